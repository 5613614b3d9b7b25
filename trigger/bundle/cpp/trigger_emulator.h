// The C ABI of a trigger emulator library, beside its hls4mlEmulator::Model (hls4ml/emulator.h):
// for C, Python ctypes, or anything without C++. Every function is extern "C" and exported.
// Raw values are two's-complement integers in units of the port's LSB (the hex vectors' values).
#ifndef TRIGGER_EMULATOR_H_
#define TRIGGER_EMULATOR_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif
const char *trigger_model_name(void);  // the library's name, e.g. "JetTagger_v1"
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
#ifdef __cplusplus
}
#endif

#endif
