// The CUDA driver as dcn uses it, testable without a GPU
// (runtime/src/cuda_driver.h):
//  * the context rule against fake driver calls: the caller's context
//    first, else the context that owns the call's device memory, else the
//    primary context of the asked device; never a new context;
//  * every CUDA tensor of a call on one GPU, and known to the driver as
//    device memory, refused naming the argument otherwise;
//  * kernel launches: shared memory above 48 KB raises the kernel's limit,
//    beyond the device's or a grid beyond 65535 in y / z is refused with a
//    reason;
//  * the probe's answer as the process finds the driver (ctest runs
//    CudaDriverProbe.SaysWhy with fake libcuda libraries on the library
//    path: tests/fake_cuda/).
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <string>

#include "cuda_driver.h"
#include "dcn/dcn.h"

namespace {

using dcn::detail::CudaCallMemory;
using dcn::detail::CudaContextCalls;
using dcn::detail::pick_cuda_context;

// A fake driver: two GPUs with a context each, device pointers in
// [0x1000, 0x2000) on cuda:0 and [0x2000, 0x3000) on cuda:1 (contexts 0xc0,
// 0xc1); the primary contexts are 0xa0, 0xa1. Counts the calls.
struct FakeDriver {
    std::map<std::string, int> calls;
    CudaContextCalls fns() {
        CudaContextCalls c;
        c.context_of = [this](const void *p, void **ctx) {
            ++calls["context_of"];
            const int d = device_of(p);
            if (d < 0) return 1;  // CUDA_ERROR_INVALID_VALUE
            *ctx = reinterpret_cast<void *>(uintptr_t(0xc0 + d));
            return 0;
        };
        c.ordinal_of = [this](const void *p, int *ordinal) {
            ++calls["ordinal_of"];
            const int d = device_of(p);
            if (d < 0) return 1;
            *ordinal = d;
            return 0;
        };
        c.primary_context = [this](int ordinal, void **ctx) {
            ++calls["primary_context"];
            if (ordinal < 0 || ordinal > 1) return 101;  // CUDA_ERROR_INVALID_DEVICE
            *ctx = reinterpret_cast<void *>(uintptr_t(0xa0 + ordinal));
            return 0;
        };
        return c;
    }
    static int device_of(const void *p) {
        const uintptr_t u = reinterpret_cast<uintptr_t>(p);
        return u >= 0x1000 && u < 0x2000 ? 0 : (u >= 0x2000 && u < 0x3000 ? 1 : -1);
    }
};

const void *ptr(uintptr_t u) { return reinterpret_cast<const void *>(u); }
void *ctx(uintptr_t u) { return reinterpret_cast<void *>(u); }

TEST(CudaContextRule, TheCallersContextFirstWithoutAskingTheDriver) {
    FakeDriver drv;
    const CudaContextCalls calls = drv.fns();
    CudaCallMemory mem(calls, "deform_conv2d");
    mem.add("input", ptr(0x2010));
    EXPECT_EQ(pick_cuda_context(calls, "deform_conv2d", ctx(0x77), mem, 0), ctx(0x77));
    EXPECT_EQ(drv.calls["context_of"], 0);
    EXPECT_EQ(drv.calls["primary_context"], 0);
}

TEST(CudaContextRule, ElseTheContextThatOwnsTheMemory) {
    // The first device tensor's context (cuda:1), not the primary context of
    // the `ordinal` option (0) nor any current context.
    FakeDriver drv;
    const CudaContextCalls calls = drv.fns();
    CudaCallMemory mem(calls, "deform_conv2d");
    mem.add("input", ptr(0x2010));
    mem.add("offset", ptr(0x2800));
    EXPECT_EQ(mem.ordinal(), 1);
    EXPECT_EQ(pick_cuda_context(calls, "deform_conv2d", nullptr, mem, 0), ctx(0xc1));
    EXPECT_EQ(drv.calls["primary_context"], 0);
}

TEST(CudaContextRule, HostTensorsOnlyUseThePrimaryContextOfTheAskedDevice) {
    FakeDriver drv;
    const CudaContextCalls calls = drv.fns();
    CudaCallMemory none(calls, "deform_roi_pool");
    EXPECT_EQ(none.ordinal(), -1);
    EXPECT_EQ(pick_cuda_context(calls, "deform_roi_pool", nullptr, none, 1), ctx(0xa1));
    EXPECT_EQ(pick_cuda_context(calls, "deform_roi_pool", nullptr, none, 0), ctx(0xa0));
    try {
        pick_cuda_context(calls, "deform_roi_pool", nullptr, none, 5);
        FAIL() << "no error";
    } catch (const dcn::Error &e) {
        EXPECT_EQ(e.argument(), "cuda.ordinal");
        EXPECT_NE(std::string(e.what()).find("cuda:5"), std::string::npos) << e.what();
    }
}

TEST(CudaCallMemory, TensorsOnTwoGpusAreRefusedNamingTheArgument) {
    FakeDriver drv;
    const CudaContextCalls calls = drv.fns();
    CudaCallMemory mem(calls, "deform_conv2d");
    mem.add("input", ptr(0x1000));
    mem.add("offset", ptr(0x1fff));
    try {
        mem.add("weight", ptr(0x2000));
        FAIL() << "no error";
    } catch (const dcn::Error &e) {
        EXPECT_EQ(e.function(), "deform_conv2d");
        EXPECT_EQ(e.argument(), "weight");
        EXPECT_NE(std::string(e.what()).find("expected memory on cuda:0 (the input's), got cuda:1"), std::string::npos)
            << e.what();
    }
}

TEST(CudaCallMemory, APointerTheDriverDoesNotKnowIsRefused) {
    FakeDriver drv;
    const CudaContextCalls calls = drv.fns();
    CudaCallMemory mem(calls, "deform_psroi_pool");
    try {
        mem.add("rois", ptr(0x9000));
        FAIL() << "no error";
    } catch (const dcn::Error &e) {
        EXPECT_EQ(e.argument(), "rois");
        EXPECT_NE(std::string(e.what()).find("not CUDA device memory"), std::string::npos) << e.what();
    }
    // And the context of memory the driver cannot place is an error, not a guess.
    CudaContextCalls no_context = calls;
    no_context.context_of = [](const void *, void **) { return 201; };  // CUDA_ERROR_INVALID_CONTEXT
    CudaCallMemory mem2(calls, "deform_conv2d");
    mem2.add("input", ptr(0x1200));
    try {
        pick_cuda_context(no_context, "deform_conv2d", nullptr, mem2, 0);
        FAIL() << "no error";
    } catch (const dcn::Error &e) {
        EXPECT_EQ(e.argument(), "input");
        EXPECT_NE(std::string(e.what()).find("options.cuda.context"), std::string::npos) << e.what();
    }
}

// ---- kernel launches (Halide's cuLaunchKernel goes through launch_checked) ----

struct FakeLaunches {
    int launched = 0, raised_to = -1, optin = 232448;  // H100: 227 KB opt-in
    dcn::detail::CudaLaunchCalls fns() {
        dcn::detail::CudaLaunchCalls c;
        c.launch = [this](const dcn::detail::CudaLaunch &) {
            ++launched;
            return 0;
        };
        c.set_dynamic_shared = [this](void *, int bytes) {
            raised_to = bytes;
            return 0;
        };
        c.max_shared_optin = [this](int *bytes) {
            *bytes = optin;
            return 0;
        };
        return c;
    }
};

dcn::detail::CudaLaunch launch_of(unsigned gy, unsigned shared) {
    dcn::detail::CudaLaunch l;
    l.grid[0] = 4, l.grid[1] = gy, l.grid[2] = 1;
    l.block[0] = 256;
    l.shared_bytes = shared;
    return l;
}

TEST(CudaLaunch, SharedMemoryAbove48KBRaisesTheKernelsLimitFirst) {
    FakeLaunches f;
    const auto calls = f.fns();
    EXPECT_EQ(dcn::detail::launch_checked(calls, launch_of(10, 48 * 1024)), 0);
    EXPECT_EQ(f.raised_to, -1);  // the default limit suffices
    EXPECT_EQ(dcn::detail::launch_checked(calls, launch_of(10, 400 * 1024 / 4)), 0);
    EXPECT_EQ(f.raised_to, 400 * 1024 / 4);
    EXPECT_EQ(f.launched, 2);
    EXPECT_EQ(dcn::detail::take_launch_note(), "");
}

TEST(CudaLaunch, MoreSharedMemoryThanTheDeviceAllowsIsRefusedSayingWhy) {
    FakeLaunches f;
    const auto calls = f.fns();
    EXPECT_NE(dcn::detail::launch_checked(calls, launch_of(10, 400 * 1024)), 0);
    EXPECT_EQ(f.launched, 0);
    const std::string note = dcn::detail::take_launch_note();
    EXPECT_NE(note.find("409600 bytes of shared memory per block, the device allows 232448"), std::string::npos)
        << note;
    EXPECT_EQ(dcn::detail::take_launch_note(), "");  // taken once
}

TEST(CudaLaunch, GridsBeyond65535InYOrZAreRefusedSayingWhy) {
    FakeLaunches f;
    const auto calls = f.fns();
    EXPECT_EQ(dcn::detail::launch_checked(calls, launch_of(65535, 0)), 0);
    EXPECT_NE(dcn::detail::launch_checked(calls, launch_of(65536, 0)), 0);
    EXPECT_EQ(f.launched, 1);
    const std::string note = dcn::detail::take_launch_note();
    EXPECT_NE(note.find("4 x 65536 x 1 blocks"), std::string::npos) << note;
    EXPECT_NE(note.find("split the call"), std::string::npos) << note;
}

// The soname comes first: a stub on the path is never preferred to a driver.
TEST(CudaDriverNames, SonameFirst) {
    ASSERT_EQ(std::size(dcn::detail::kCudaDriverNames), 2u);
    EXPECT_STREQ(dcn::detail::kCudaDriverNames[0], "libcuda.so.1");
    EXPECT_STREQ(dcn::detail::kCudaDriverNames[1], "libcuda.so");
}

// What the probe says on this machine. With DCN_TEST_CUDA_WHY set (ctest's
// cuda_driver.probe_* runs with fake libraries on the path), `why` must
// contain it; without, on a machine with no driver, it names the libraries
// tried.
TEST(CudaDriverProbe, SaysWhy) {
    std::string why;
    const bool usable = dcn::device_usable(dcn::Device::cuda, &why);
    const char *expect = std::getenv("DCN_TEST_CUDA_WHY");
    if (expect) {
        EXPECT_FALSE(usable);
        EXPECT_NE(why.find(expect), std::string::npos) << "why: " << why;
        return;
    }
    if (usable) GTEST_SKIP() << "a CUDA driver and device answer here";
    EXPECT_FALSE(why.empty());
    if (why.find("no CUDA driver library") != std::string::npos)
        EXPECT_NE(why.find("libcuda.so.1"), std::string::npos) << why;
}

}  // namespace
