// Standalone check of an emulator library: dlopen() it, run the packed hex test vectors through
// the C++ interface and through the C ABI, and compare every output bit for bit.
//   usage: emulator_test <model_emulator.so> <inputs.hex> <expected_outputs.hex>
// Exit: 0 all events bit-exact, 1 a mismatch, 2 unusable arguments or vectors.
// Written by trigger (trigger/bundle/cpp/emulator_test.cpp); it needs only the interface header.
#include <cstdint>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "trigger_emulator.h"

namespace {

struct Layout {
    int count, width;
    bool is_signed;
};

bool unpack(const std::string &hex, const Layout &layout, std::vector<int64_t> &values) {
    values.assign(layout.count, 0);
    const int bits = layout.count * layout.width;
    if ((int)hex.size() * 4 < bits)
        return false;
    for (int bit = 0; bit < bits; bit++) {
        char c = hex[hex.size() - 1 - bit / 4];
        int nibble = c >= '0' && c <= '9' ? c - '0' : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10 : -1;
        if (nibble < 0)
            return false;
        if ((nibble >> (bit % 4)) & 1)
            values[bit / layout.width] |= int64_t(1) << (bit % layout.width);
    }
    for (int64_t &v : values)
        if (layout.is_signed && ((v >> (layout.width - 1)) & 1))
            v -= int64_t(1) << layout.width;
    return true;
}

} // namespace

int main(int argc, char **argv) {
    if (argc != 4) {
        std::cerr << "usage: " << argv[0] << " <model_emulator.so> <inputs.hex> <expected_outputs.hex>" << std::endl;
        return 2;
    }
    try {
        trigger_emulator::ModelLoader loader(argv[1]);
        auto call = [&](const char *name) { return loader.symbol<int (*)()>(name)(); };
        const Layout in{call("trigger_n_inputs"), call("trigger_input_width"), call("trigger_input_signed") != 0};
        const Layout out{call("trigger_n_outputs"), call("trigger_output_width"), call("trigger_output_signed") != 0};
        auto predict_raw = loader.symbol<int (*)(const int64_t *, int64_t *)>("trigger_predict_raw");
        std::shared_ptr<trigger_emulator::Model> model = loader.load_model();

        std::ifstream inputs_file(argv[2]), expected_file(argv[3]);
        if (!inputs_file || !expected_file) {
            std::cerr << "ERROR: cannot open " << (inputs_file ? argv[3] : argv[2]) << std::endl;
            return 2;
        }
        std::string in_line, expected_line;
        std::vector<int64_t> x, expected, got(out.count), got_c(out.count);
        long events = 0, failed = 0;
        while (std::getline(inputs_file, in_line)) {
            if (!std::getline(expected_file, expected_line) || !unpack(in_line, in, x) || !unpack(expected_line, out, expected)) {
                std::cerr << "ERROR: event " << events << ": unreadable or missing hex word in " << argv[2] << " / " << argv[3]
                          << std::endl;
                return 2;
            }
            model->prepare_input(static_cast<const int64_t *>(x.data()));
            model->predict();
            model->read_result(got.data());
            if (predict_raw(x.data(), got_c.data()) != 0) {
                std::cerr << "ERROR: event " << events << ": inputs outside the input type's range" << std::endl;
                return 2;
            }
            bool ok = true;
            for (int j = 0; j < out.count; j++) {
                if (got[j] != expected[j] || got_c[j] != expected[j]) {
                    if (ok && failed < 10)
                        std::cout << "MISMATCH event " << events << " output " << j << ": C++ interface " << got[j]
                                  << ", C ABI " << got_c[j] << ", expected " << expected[j] << " (raw LSB counts)" << std::endl;
                    ok = false;
                }
            }
            failed += ok ? 0 : 1;
            events++;
        }
        if (events == 0) {
            std::cerr << "ERROR: " << argv[2] << " holds no events" << std::endl;
            return 2;
        }
        if (failed) {
            std::cout << "FAIL: " << failed << "/" << events << " events differ from " << argv[3] << std::endl;
            return 1;
        }
        std::cout << "PASS: " << events << "/" << events << " events bit-exact (C++ interface and C ABI)" << std::endl;
        return 0;
    } catch (const std::exception &e) {
        std::cerr << "ERROR: " << e.what() << std::endl;
        return 2;
    }
}
