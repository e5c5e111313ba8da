// deform_conv2d_grad_weight_finish: the end of deform_conv2d's weight
// gradients on a GPU (a GPU stage): grad_weight rounded once from the
// compute-type sum of the chunks (deform_conv2d_grad_weight, or cuBLASLt's
// GEMMs into a float32 sum), and grad_bias[o] = sum_{n, p} grad_out[n, o, p]
// in a fixed order. A zero-extent grad_weight asks for none.

#include "Halide.h"
#include "common.h"
#include "storage16.h"
#include "cuda/deform_conv2d_gpu_gradients.h"

namespace {

using namespace Halide;

class DeformConv2dGradWeightFinishGenerator : public Generator<DeformConv2dGradWeightFinishGenerator> {
public:
    GeneratorParam<bool> with_bias{"with_bias", false};
    GeneratorParam<Type> dtype{"dtype", Float(32)};
    GeneratorParam<Type> accum{"accum", Float(32)};

    Input<Buffer<void, 3>> acc{"grad_weight_acc"};      // (taps, C/groups, K), compute type
    Input<Buffer<void, 3>> grad_output{"grad_output"};  // (oH*oW, K, N)
    Output<Buffer<void, 3>> grad_weight{"grad_weight"};  // (taps, C/groups, K)
    Output<Buffer<>> *grad_bias = nullptr;               // (K)

    void configure() {
        const Type t = dcn::compute_type(dtype, accum, true);
        acc.set_type(t);
        grad_output.set_type(dtype);
        grad_weight.set_type(dtype);
        if (with_bias) grad_bias = add_output<Buffer<>>("grad_bias", dtype, 1);
    }

    void schedule() { dcn::add_storage16_passes(get_pipeline(), get_target(), dtype); }

    void generate() {
        _halide_user_assert(get_target().has_gpu_feature()) << "deform_conv2d_grad_weight_finish is a GPU stage";
        const Type t = dcn::compute_type(dtype, accum, true);
        dcn::GradWeightFinishStages s;
        grad_weight(s.k, s.c, s.o) = cast(Type(dtype), acc(s.k, s.c, s.o));
        s.grad_weight = grad_weight;
        if (with_bias) {
            RDom r({{0, grad_output.dim(0).extent()}, {0, grad_output.dim(2).extent()}}, "rb");
            s.bias_sum(s.o) = Internal::make_zero(t);
            s.bias_sum(s.o) += cast(t, grad_output(r.x, s.o, r.y));
            (*grad_bias)(s.o) = cast(Type(dtype), s.bias_sum(s.o));
            s.grad_bias = *grad_bias;
        }
        dcn::schedule_grad_weight_finish_gpu(s, with_bias);
    }
};

}  // namespace

HALIDE_REGISTER_GENERATOR(DeformConv2dGradWeightFinishGenerator, deform_conv2d_grad_weight_finish)
