// Emulator interface of a trigger model, in the style of CMS hls4mlEmulator.
//
// A model is a shared library built from the HLS C++ (bit-exact with the firmware). It exports
//   extern "C" trigger_emulator::Model *create_model();
//   extern "C" void destroy_model(trigger_emulator::Model *);
// plus the C ABI declared at the bottom (for C, Python ctypes, or anything without C++).
// Usage:
//   trigger_emulator::ModelLoader loader("./jet_tagger_emulator.so");
//   std::shared_ptr<trigger_emulator::Model> model = loader.load_model();
//   model->prepare_input(inputs);   // std::any: const int64_t* (raw LSB counts), const double*, or input_t*
//   model->predict();
//   model->read_result(outputs);    // std::any: int64_t* (raw), double*, or result_t*
#ifndef TRIGGER_EMULATOR_H_
#define TRIGGER_EMULATOR_H_

#include <any>
#include <cstdint>
#include <dlfcn.h>
#include <memory>
#include <stdexcept>
#include <string>

namespace trigger_emulator {

class Model {
  public:
    virtual ~Model() = default;
    virtual void prepare_input(std::any input) = 0;
    virtual void predict() = 0;
    virtual void read_result(std::any result) = 0;
};

typedef Model *(*create_model_t)();
typedef void (*destroy_model_t)(Model *);

// dlopen()s a model library; models it creates must not outlive the loader.
class ModelLoader {
  public:
    explicit ModelLoader(const std::string &path) : path_(path), handle_(dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL)) {
        if (handle_ == nullptr)
            throw std::runtime_error("cannot load emulator " + path + ": " + dlerror());
    }
    ~ModelLoader() {
        if (handle_ != nullptr)
            dlclose(handle_);
    }
    ModelLoader(const ModelLoader &) = delete;
    ModelLoader &operator=(const ModelLoader &) = delete;

    std::shared_ptr<Model> load_model() {
        create_model_t create = symbol<create_model_t>("create_model");
        destroy_model_t destroy = symbol<destroy_model_t>("destroy_model");
        return std::shared_ptr<Model>(create(), destroy);
    }

    template <class T> T symbol(const char *name) const {
        void *address = dlsym(handle_, name);
        if (address == nullptr)
            throw std::runtime_error(path_ + " has no symbol " + name + "; rebuild it with `trigger export`");
        return reinterpret_cast<T>(address);
    }

  private:
    std::string path_;
    void *handle_;
};

} // namespace trigger_emulator

// The C ABI. Raw values are two's-complement integers in units of the port's LSB.
extern "C" {
const char *trigger_model_name(void);
int trigger_n_inputs(void);
int trigger_n_outputs(void);
int trigger_input_width(void);  // total bits W of one input element
int trigger_input_integer(void);  // integer bits I (LSB = 2^(I-W))
int trigger_input_signed(void);
int trigger_output_width(void);
int trigger_output_integer(void);
int trigger_output_signed(void);
// 0 on success, -1 if a raw input is outside the input type's range (nothing is computed then).
int trigger_predict_raw(const int64_t *inputs, int64_t *outputs);
// Inputs are rounded to nearest (ties to even) and saturated into the input type, as trigger's preprocessing does.
int trigger_predict(const double *inputs, double *outputs);
}

#endif
