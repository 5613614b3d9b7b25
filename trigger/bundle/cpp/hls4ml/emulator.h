// The CMS L1 emulator interface: hls4mlEmulator::Model and its ModelLoader.
//
// Written for trigger from the documented shape of cms-hls4ml/hls4mlEmulatorExtras,
// include/hls4ml/emulator.h, release v1.1.4 (commit db92d84, January 2025). The class layout
// is the ABI that CMSSW relies on and must not change here: namespace hls4mlEmulator, class
// Model, the pure virtuals prepare_input(std::any), predict(), read_result(std::any) in this
// order, then the virtual destructor. A model library exports
//   extern "C" hls4mlEmulator::Model *create_model();
//   extern "C" void destroy_model(hls4mlEmulator::Model *);
// In CMSSW, build against the real header of the hls4mlEmulatorExtras external instead (both
// are included as <hls4ml/emulator.h>). The loader below is header-only, so the bundle needs no
// extra library; it behaves as the upstream one: ModelLoader("JetTagger_v1").load_model()
// dlopen()s "JetTagger_v1.so" with RTLD_LAZY | RTLD_LOCAL, found through LD_LIBRARY_PATH.
#ifndef HLS4ML_EMULATOR_H_
#define HLS4ML_EMULATOR_H_

#include <any>
#include <dlfcn.h>
#include <memory>
#include <stdexcept>
#include <string>

namespace hls4mlEmulator {

class Model {
  public:
    virtual void prepare_input(std::any input) = 0;
    virtual void predict() = 0;
    virtual void read_result(std::any result) = 0;
    virtual ~Model() = default;
};

typedef Model *create_model_cls();
typedef void destroy_model_cls(Model *);

// Opens nothing until load_model(); models it creates must not outlive it (reset() closes the library).
class ModelLoader {
  public:
    ModelLoader(std::string const &model_name = "") : model_name_(model_name) {}
    ModelLoader(ModelLoader const &) = delete;
    ModelLoader &operator=(ModelLoader const &) = delete;
    ModelLoader(ModelLoader &&) = delete;
    ModelLoader &operator=(ModelLoader &&) = delete;
    ~ModelLoader() { reset(); }

    std::string const &model_name() const { return model_name_; }

    void reset(std::string const &model_name = "") {
        model_name_ = model_name;
        if (model_lib_ != nullptr) {
            dlclose(model_lib_);
            model_lib_ = nullptr;
        }
    }

    std::shared_ptr<Model> load_model() {
        if (model_name_.empty())
            throw std::runtime_error("hls4mlEmulator::ModelLoader: no model name; give one to the constructor or reset()");
        std::string const library = model_name_ + ".so";
        if (model_lib_ == nullptr)
            model_lib_ = dlopen(library.c_str(), RTLD_LAZY | RTLD_LOCAL);
        if (model_lib_ == nullptr)
            throw std::runtime_error("cannot load " + library + " (is its directory on LD_LIBRARY_PATH?): " + dlerror());
        auto create = reinterpret_cast<create_model_cls *>(symbol("create_model"));
        auto destroy = reinterpret_cast<destroy_model_cls *>(symbol("destroy_model"));
        return std::shared_ptr<Model>(create(), [destroy](Model *m) {
            if (m != nullptr)
                destroy(m);
        });
    }

  private:
    void *symbol(const char *name) {
        void *address = dlsym(model_lib_, name);
        if (address == nullptr)
            throw std::runtime_error(model_name_ + ".so has no symbol " + name + "; it is not an hls4mlEmulator model");
        return address;
    }

    std::string model_name_;
    void *model_lib_ = nullptr;
};

} // namespace hls4mlEmulator

#endif
