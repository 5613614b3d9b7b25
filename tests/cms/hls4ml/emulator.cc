// The loader of tests/cms/hls4ml/emulator.h, behaving as CMS's: the bare model name plus ".so",
// dlopen()ed with RTLD_LAZY | RTLD_LOCAL (so found through LD_LIBRARY_PATH), on load_model() only.
#include "emulator.h"

#include <stdexcept>

namespace hls4mlEmulator {

ModelLoader::ModelLoader(std::string const &model_name) : model_name_(model_name), model_lib_(nullptr) {}

ModelLoader::~ModelLoader() { reset(); }

void ModelLoader::reset(std::string const &model_name) {
    model_name_ = model_name;
    if (model_lib_ != nullptr) {
        dlclose(model_lib_);
        model_lib_ = nullptr;
    }
}

std::shared_ptr<Model> ModelLoader::load_model() {
    if (model_name_.empty())
        throw std::runtime_error("uninitialised model name");
    std::string const library = model_name_ + ".so";
    model_lib_ = dlopen(library.c_str(), RTLD_LAZY | RTLD_LOCAL);
    if (model_lib_ == nullptr)
        throw std::runtime_error(std::string("dlopen failure: ") + dlerror());
    dlerror();
    auto create = reinterpret_cast<create_model_cls *>(dlsym(model_lib_, "create_model"));
    if (dlerror() != nullptr)
        throw std::runtime_error("no create_model in " + library);
    auto destroy = reinterpret_cast<destroy_model_cls *>(dlsym(model_lib_, "destroy_model"));
    if (dlerror() != nullptr)
        throw std::runtime_error("no destroy_model in " + library);
    return std::shared_ptr<Model>(create(), [destroy](Model *m) {
        if (m != nullptr)
            destroy(m);
    });
}

} // namespace hls4mlEmulator
