// Helpers shared by the backward calls: the gradients' memory checks and
// the stand-in for a gradient not asked for.
#pragma once

#include <optional>
#include <vector>

#include "internal.h"

namespace dcn::detail {

struct NamedView {
    const char *name;
    const TensorView *view;
};

// A gradient must not overlap another gradient or an input (the kernels
// read the inputs while they write the gradients): dcn::Error naming both.
void check_no_overlap(const char *function, const std::vector<NamedView> &grads,
                      const std::vector<NamedView> &inputs);

// (N, C, H, W) -> (N, G, C/G, H, W): the channels split by offset group,
// as deform_conv2d's data-gradient kernels write grad_input.
TensorView split_channels(const TensorView &t, int64_t groups);

// A zero-filled host tensor owned by the call (stand-ins for empty inputs).
class ScratchTensor {
public:
    ScratchTensor(std::vector<int64_t> shape, DType dtype);
    const TensorView &view() const { return view_; }

private:
    TensorView view_;
    std::vector<unsigned char> bytes_;
};

// A gradient not asked for. On the CPU a view with no elements (its first
// dimension 0): the kernels compute nothing for it. Halide's GPU runtimes
// cannot allocate an empty device buffer, so a GPU call computes it into
// scratch host memory (its first dimension cut to 1: one image, one RoI)
// and drops it.
class UnwantedGradient {
public:
    UnwantedGradient(std::vector<int64_t> shape, DType dtype, bool gpu);
    const TensorView &view() const { return scratch_ ? scratch_->view() : view_; }

private:
    TensorView view_;
    std::optional<ScratchTensor> scratch_;
};

}  // namespace dcn::detail
