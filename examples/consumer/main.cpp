// Smallest dcn application: a 3x3 deformable convolution whose offsets shift
// every sample by exactly one pixel to the right, checked against the
// equivalent ordinary convolution computed by hand.
#include <cmath>
#include <cstdio>
#include <vector>

#include <dcn/dcn.h>

int main() {
    const int C = 3, H = 6, W = 7, K = 2, taps = 9;
    std::vector<float> x(C * H * W), w(K * C * taps), off(2 * taps * H * W, 0.0f), out(K * H * W);
    for (size_t i = 0; i < x.size(); i++) x[i] = float(int(i * 7 % 11) - 5);
    for (size_t i = 0; i < w.size(); i++) w[i] = float(int(i * 5 % 7) - 3);
    for (int k = 0; k < taps; k++)
        for (int p = 0; p < H * W; p++) off[(2 * k + 1) * H * W + p] = 1.0f;  // dx = +1

    dcn::DeformConv2dOptions opt;
    opt.set_padding(1, 1);
    try {
        dcn::deform_conv2d(dcn::TensorView(x.data(), {1, C, H, W}), dcn::TensorView(off.data(), {1, 2 * taps, H, W}),
                           dcn::TensorView(w.data(), {K, C, 3, 3}), std::nullopt, std::nullopt,
                           dcn::TensorView(out.data(), {1, K, H, W}), opt);
    } catch (const dcn::Error &e) {
        std::fprintf(stderr, "dcn_consumer: %s\n", e.what());
        return 1;
    }
    int bad = 0;
    for (int o = 0; o < K; o++)
        for (int y = 0; y < H; y++)
            for (int xx = 0; xx < W; xx++) {
                double ref = 0;
                for (int c = 0; c < C; c++)
                    for (int i = 0; i < 3; i++)
                        for (int j = 0; j < 3; j++) {
                            const int sy = y - 1 + i, sx = xx - 1 + j + 1;
                            if (sy >= 0 && sy < H && sx >= 0 && sx < W)
                                ref += w[((o * C + c) * 3 + i) * 3 + j] * x[(c * H + sy) * W + sx];
                        }
                if (out[(o * H + y) * W + xx] != ref) bad++;
            }
    std::printf("dcn %s (Halide %s): %s\n", dcn::build_info().version.c_str(), dcn::build_info().halide_version.c_str(),
                bad ? "MISMATCH" : "OK");
    return bad ? 1 : 0;
}
