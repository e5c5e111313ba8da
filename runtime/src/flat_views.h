// Views of a call's tensors as the kernels take them: a chunk of images,
// and a 4-D tensor with its last two dimensions merged into one of unit
// stride (an image's pixels (oH, oW) -> oH*oW, a kernel's taps (kH, kW) ->
// kH*kW). A host tensor whose last two dimensions are not so is copied
// (an input gathered now, an output scattered back by finish()); device
// memory must be so.
#pragma once

#include <vector>

#include "internal.h"

namespace dcn::detail {

// Images [first, first + count) of a tensor whose first dimension is the batch.
TensorView images(const TensorView &t, int64_t first, int64_t count);

class FlatLastTwo {
public:
    enum class Use { input, output };
    // `function` and `argument` name the tensor in the error for device
    // memory that cannot be merged.
    FlatLastTwo(const TensorView &t, Use use, const char *function, const char *argument);
    FlatLastTwo(const FlatLastTwo &) = delete;
    FlatLastTwo &operator=(const FlatLastTwo &) = delete;
    const TensorView &view() const { return view_; }
    // An output computed into the copy: into the caller's tensor (nothing
    // for an input, or when nothing was copied).
    void finish() const;

private:
    template <typename F>
    void for_each_element(F f) const;  // f(copy offset, tensor offset), bytes, in C order
    const TensorView &t_;
    Use use_;
    TensorView view_;
    std::vector<unsigned char> copy_;
};

}  // namespace dcn::detail
