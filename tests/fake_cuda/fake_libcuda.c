/* A fake CUDA driver library for tests/test_cuda_driver.cpp: built twice,
 * as a toolkit's stubs/libcuda.so (every call answers
 * CUDA_ERROR_STUB_LIBRARY) and as a driver's libcuda.so.1 that initialises
 * and has no device. It lets a machine without a GPU test which library
 * dcn loads and what it says. */
#define CUDA_SUCCESS 0
#define CUDA_ERROR_STUB_LIBRARY 34

#ifdef FAKE_STUB
#define INIT_RESULT CUDA_ERROR_STUB_LIBRARY
#else
#define INIT_RESULT CUDA_SUCCESS
#endif

int cuInit(unsigned flags) {
    (void)flags;
    return INIT_RESULT;
}

int cuDeviceGetCount(int *count) {
    *count = 0;
    return INIT_RESULT;
}

int cuGetErrorName(int error, const char **name) {
    *name = error == CUDA_ERROR_STUB_LIBRARY ? "CUDA_ERROR_STUB_LIBRARY" : "CUDA_ERROR_UNKNOWN";
    return CUDA_SUCCESS;
}
