// The consumer side of the CMS L1 emulator interface, for tests: a separate copy of the layout of
// cms-hls4ml/hls4mlEmulatorExtras include/hls4ml/emulator.h (release v1.1.4), declarations in the
// header and the loader in emulator.cc, as upstream splits them. It is kept apart from the copy the
// bundle ships (trigger/bundle/cpp/hls4ml/emulator.h) on purpose: a model library is checked against
// the consumer's view of the ABI, not against its own.
#ifndef HLS4ML_EMULATOR_H_
#define HLS4ML_EMULATOR_H_

#include <any>
#include <dlfcn.h>
#include <iostream>
#include <memory>
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

class ModelLoader {
  private:
    std::string model_name_;
    void *model_lib_;

  public:
    ModelLoader(std::string const &model_name = "");
    ModelLoader(ModelLoader const &) = delete;
    ModelLoader &operator=(ModelLoader const &) = delete;
    ModelLoader(ModelLoader &&) = delete;
    ModelLoader &operator=(ModelLoader &&) = delete;
    ~ModelLoader();

    std::string const &model_name() const { return model_name_; }
    void reset(std::string const &model_name = "");
    std::shared_ptr<Model> load_model();
};
} // namespace hls4mlEmulator

#endif
