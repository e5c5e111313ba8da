// Private helpers shared by the runtime's operator wrappers. Nothing here is
// installed: halide_buffer_t never reaches the public headers.
#pragma once

#include <HalideRuntime.h>

#include <string>
#include <vector>

#include "dcn/dcn.h"

namespace dcn::detail {

// "[1, 18, 50, 84]"
std::string shape_str(const std::vector<int64_t> &shape);

// A halide_buffer_t over a TensorView (dimensions reversed: Halide is
// innermost first). The view must have been validated.
struct HalideView {
    halide_buffer_t buf{};
    halide_dimension_t dims[4]{};
    explicit HalideView(const TensorView &t);
    halide_buffer_t *get() { return &buf; }
};

// Checks shared by every operator. `function` and `argument` name the call
// and the tensor in error messages.
void check_tensor(const char *function, const char *argument, const TensorView &t, int rank,
                  const char *layout);
void check_shape(const char *function, const char *argument, const TensorView &t,
                 const std::vector<int64_t> &expected, const std::string &why);

// Installs the error handler and the CPU dispatch hook (once), resets the
// per-call state. Call right before a kernel.
void begin_kernel_call();
// Index into a kernel's per-ISA table (cmake/DcnKernels.cmake, best first):
// the best path the CPU supports, not above the cap. The question goes
// through halide_can_use_target_features, so the custom hook decides.
int select_cpu_variant();

// Turns a non-zero kernel status into dcn::Error with Halide's message.
void check_kernel_status(const char *function, int status);

}  // namespace dcn::detail
