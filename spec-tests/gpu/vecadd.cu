// A small computation on the GPU whose result is checked on the host: the proof
// that a container reached the device, not only its driver's files. Prints
// "CUDA OK <device name>" and exits 0, or says what failed and exits 1.
#include <cstdio>
#include <cuda_runtime.h>

__global__ void add(const float *a, const float *b, float *sum, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) sum[i] = a[i] + b[i];
}

static int fail(const char *step, cudaError_t err) {
    printf("CUDA FAILED at %s: %s\n", step, cudaGetErrorString(err));
    return 1;
}

int main() {
    const int n = 1 << 20;
    const size_t bytes = n * sizeof(float);
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) return fail("cudaGetDeviceCount", err);
    cudaDeviceProp prop;
    if ((err = cudaGetDeviceProperties(&prop, 0)) != cudaSuccess) return fail("cudaGetDeviceProperties", err);

    static float a[1 << 20], b[1 << 20], sum[1 << 20];
    for (int i = 0; i < n; i++) {
        a[i] = (float)i;
        b[i] = 2.0f * (float)i;
    }
    float *da, *db, *dsum;
    if ((err = cudaMalloc(&da, bytes)) != cudaSuccess) return fail("cudaMalloc", err);
    if ((err = cudaMalloc(&db, bytes)) != cudaSuccess) return fail("cudaMalloc", err);
    if ((err = cudaMalloc(&dsum, bytes)) != cudaSuccess) return fail("cudaMalloc", err);
    cudaMemcpy(da, a, bytes, cudaMemcpyHostToDevice);
    cudaMemcpy(db, b, bytes, cudaMemcpyHostToDevice);
    add<<<(n + 255) / 256, 256>>>(da, db, dsum, n);
    if ((err = cudaGetLastError()) != cudaSuccess) return fail("kernel launch", err);
    if ((err = cudaMemcpy(sum, dsum, bytes, cudaMemcpyDeviceToHost)) != cudaSuccess) return fail("cudaMemcpy", err);
    for (int i = 0; i < n; i++) {
        if (sum[i] != 3.0f * (float)i) {
            printf("CUDA WRONG RESULT at %d: %f\n", i, sum[i]);
            return 1;
        }
    }
    printf("CUDA OK %s (%d devices, %d elements added)\n", prop.name, count, n);
    return 0;
}
