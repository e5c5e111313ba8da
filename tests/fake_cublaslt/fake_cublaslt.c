/* A fake cuBLASLt for tests/test_cublaslt.cpp: the functions dcn calls,
 * written from cuBLASLt's documented semantics, on host memory (the
 * "device" pointers are host pointers). It checks what a real library
 * would refuse (attribute sizes, layouts too small for their matrices,
 * inconsistent shapes) and computes D = alpha * op(A) op(B) + beta * C
 * (+ bias per row of D) in double, for CUBLASLT_ORDER_COL and _ROW
 * layouts, strided batches, float32 / float16 / bfloat16 elements.
 * FAKE_CUBLASLT_NO_ALGO=1 makes the heuristic return no algorithm. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { OK = 0, NOT_SUPPORTED = 15, INVALID_VALUE = 7 };
enum { R32F = 0, R16F = 2, R16BF = 14 };

typedef struct { int compute, scale, transa, transb; unsigned epilogue; const void *bias; } Desc;
typedef struct { int type; uint64_t rows, cols; int64_t ld; int order, batch; int64_t stride; } Layout;
typedef struct { uint64_t workspace; uint32_t align[4]; } Pref;
typedef struct { uint64_t data[8]; } Algo;
typedef struct { Algo algo; size_t workspace_size; int state; float waves; int reserved[4]; } Heur;

/* What the last matmul was given (read by the test through dlsym). */
void *fake_cublaslt_last_stream = 0;
int fake_cublaslt_last_compute = -1;
uint32_t fake_cublaslt_last_align[4];
int fake_cublaslt_matmuls = 0;

int cublasLtCreate(void **h) { *h = malloc(16); return OK; }
int cublasLtDestroy(void *h) { free(h); return OK; }
size_t cublasLtGetVersion(void) { return 999; }
const char *cublasLtGetStatusName(int s) { return s == OK ? "CUBLAS_STATUS_SUCCESS" : "CUBLAS_STATUS_FAKE_ERROR"; }

int cublasLtMatmulDescCreate(void **d, int compute, int scale) {
    if (compute != 68 && compute != 77) return INVALID_VALUE;
    if (scale != R32F) return INVALID_VALUE;
    Desc *x = calloc(1, sizeof(Desc));
    x->compute = compute; x->scale = scale; x->epilogue = 1;
    *d = x;
    return OK;
}
int cublasLtMatmulDescDestroy(void *d) { free(d); return OK; }
int cublasLtMatmulDescSetAttribute(void *d, int attr, const void *buf, size_t n) {
    Desc *x = d;
    switch (attr) {
    case 3: if (n != 4) return INVALID_VALUE; memcpy(&x->transa, buf, 4); return OK;
    case 4: if (n != 4) return INVALID_VALUE; memcpy(&x->transb, buf, 4); return OK;
    case 7: if (n != 4) return INVALID_VALUE; memcpy(&x->epilogue, buf, 4); return OK;
    case 8: if (n != sizeof(void *)) return INVALID_VALUE; memcpy(&x->bias, buf, n); return OK;
    default: return INVALID_VALUE;  /* not an attribute dcn means to set */
    }
}

int cublasLtMatrixLayoutCreate(void **l, int type, uint64_t rows, uint64_t cols, int64_t ld) {
    Layout *x = calloc(1, sizeof(Layout));
    x->type = type; x->rows = rows; x->cols = cols; x->ld = ld; x->order = 0; x->batch = 1;
    *l = x;
    return OK;
}
int cublasLtMatrixLayoutDestroy(void *l) { free(l); return OK; }
int cublasLtMatrixLayoutSetAttribute(void *l, int attr, const void *buf, size_t n) {
    Layout *x = l;
    switch (attr) {
    case 1: if (n != 4) return INVALID_VALUE; memcpy(&x->order, buf, 4); return OK;
    case 5: if (n != 4) return INVALID_VALUE; memcpy(&x->batch, buf, 4); return OK;
    case 6: if (n != 8) return INVALID_VALUE; memcpy(&x->stride, buf, 8); return OK;
    default: return INVALID_VALUE;
    }
}

int cublasLtMatmulPreferenceCreate(void **p) { *p = calloc(1, sizeof(Pref)); return OK; }
int cublasLtMatmulPreferenceDestroy(void *p) { free(p); return OK; }
int cublasLtMatmulPreferenceSetAttribute(void *p, int attr, const void *buf, size_t n) {
    Pref *x = p;
    if (attr == 1 && n == 8) { memcpy(&x->workspace, buf, 8); return OK; }
    if (attr >= 5 && attr <= 8 && n == 4) { memcpy(&x->align[attr - 5], buf, 4); return OK; }
    return INVALID_VALUE;
}

/* The stored extent a layout needs: its ld covers a row (ROW) or a column (COL). */
static int layout_ok(const Layout *l) {
    if (l->order == 1) return l->ld >= (int64_t)l->cols;
    if (l->order == 0) return l->ld >= (int64_t)l->rows;
    return 0;
}

static int shapes(const Desc *d, const Layout *a, const Layout *b, const Layout *c, const Layout *dd) {
    uint64_t m = d->transa ? a->cols : a->rows, k = d->transa ? a->rows : a->cols;
    uint64_t kb = d->transb ? b->cols : b->rows, n = d->transb ? b->rows : b->cols;
    if (k != kb || dd->rows != m || dd->cols != n || c->rows != m || c->cols != n) return 0;
    if (!layout_ok(a) || !layout_ok(b) || !layout_ok(c) || !layout_ok(dd)) return 0;
    if (a->type != b->type || c->type != dd->type) return 0;
    if (dd->type != a->type && dd->type != R32F) return 0;  /* 16-bit operands may sum into float32 */
    if (a->batch != dd->batch || b->batch != dd->batch) return 0;
    return 1;
}

int cublasLtMatmulAlgoGetHeuristic(void *h, void *desc, void *a, void *b, void *c, void *d, void *pref, int requested,
                                   Heur *results, int *returned) {
    (void)h; (void)pref;
    *returned = 0;
    if (requested < 1) return INVALID_VALUE;
    if (!shapes(desc, a, b, c, d)) return INVALID_VALUE;
    memcpy(fake_cublaslt_last_align, ((Pref *)pref)->align, sizeof fake_cublaslt_last_align);
    if (getenv("FAKE_CUBLASLT_NO_ALGO")) return NOT_SUPPORTED;
    memset(&results[0], 0, sizeof(Heur));
    results[0].algo.data[0] = 42;
    *returned = 1;
    return OK;
}

/* float16 <-> float, in integers (no compiler half type needed). */
static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 31, m = h & 1023, u;
    if (e == 31) {
        u = sign | 0x7f800000u | (m << 13);
    } else if (e != 0) {
        u = sign | ((e + 112) << 23) | (m << 13);
    } else if (m == 0) {
        u = sign;
    } else { /* subnormal: normalise */
        int shift = 0;
        while (!(m & 1024)) { m <<= 1; shift++; }
        u = sign | ((uint32_t)(113 - shift) << 23) | ((m & 1023) << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static uint16_t float_to_half(float f) { /* round to nearest even; overflow to Inf */
    uint32_t u;
    memcpy(&u, &f, 4);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00);
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00);  /* rounds to >= 65520: Inf */
    if (a < 0x38800000u) {                                  /* below 2^-14: a subnormal half */
        if (a < 0x33000000u) return sign;                   /* below 2^-25: 0 */
        const int e = (int)(a >> 23);                       /* value = m * 2^(e - 150) */
        const uint32_t m = (a & 0x7fffff) | 0x800000;
        const int rs = 126 - e;                             /* m >> rs: units of 2^-24 */
        uint32_t h = m >> rs;
        const uint32_t rest = m & ((1u << rs) - 1), half = 1u << (rs - 1);
        if (rest > half || (rest == half && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((a >> 13) - (112u << 10));
    uint32_t rest = a & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

static double load(const void *p, int type, int64_t i) {
    if (type == R32F) return ((const float *)p)[i];
    const uint16_t v = ((const uint16_t *)p)[i];
    if (type == R16F) return half_to_float(v);
    uint32_t u = (uint32_t)v << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static void store(void *p, int type, int64_t i, double x) {
    if (type == R32F) { ((float *)p)[i] = (float)x; return; }
    if (type == R16F) { ((uint16_t *)p)[i] = float_to_half((float)x); return; }
    float f = (float)x;  /* bfloat16: round to nearest even (finite values) */
    uint32_t u;
    memcpy(&u, &f, 4);
    ((uint16_t *)p)[i] = (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}
/* Element (r, c) of a stored matrix. */
static int64_t at(const Layout *l, uint64_t r, uint64_t c) {
    return l->order == 1 ? (int64_t)r * l->ld + (int64_t)c : (int64_t)c * l->ld + (int64_t)r;
}

int cublasLtMatmul(void *h, void *desc, const void *alpha, const void *A, void *adesc, const void *B, void *bdesc,
                   const void *beta, const void *C, void *cdesc, void *D, void *ddesc, const Algo *algo,
                   void *workspace, size_t ws, void *stream) {
    (void)h; (void)workspace; (void)ws;
    const Desc *d = desc;
    const Layout *a = adesc, *b = bdesc, *c = cdesc, *dd = ddesc;
    if (!algo || algo->data[0] != 42 || !shapes(d, a, b, c, dd)) return INVALID_VALUE;
    fake_cublaslt_last_stream = stream;
    fake_cublaslt_last_compute = d->compute;
    fake_cublaslt_matmuls++;
    const float al = *(const float *)alpha, be = *(const float *)beta;
    const uint64_t m = dd->rows, n = dd->cols, k = d->transa ? a->rows : a->cols;
    const size_t es = a->type == R32F ? 4 : 2, es_d = dd->type == R32F ? 4 : 2;
    for (int bt = 0; bt < dd->batch; bt++) {
        const char *Ab = (const char *)A + (size_t)(bt * a->stride) * es;
        const char *Bb = (const char *)B + (size_t)(bt * b->stride) * es;
        const char *Cb = (const char *)C + (size_t)(bt * c->stride) * es_d;
        char *Db = (char *)D + (size_t)(bt * dd->stride) * es_d;
        for (uint64_t i = 0; i < m; i++)
            for (uint64_t j = 0; j < n; j++) {
                double s = 0;
                for (uint64_t q = 0; q < k; q++) {
                    double x = load(Ab, a->type, d->transa ? at(a, q, i) : at(a, i, q));
                    double y = load(Bb, b->type, d->transb ? at(b, j, q) : at(b, q, j));
                    s += x * y;
                }
                double v = al * s + (be != 0 ? be * load(Cb, c->type, at(c, i, j)) : 0.0);
                if (d->epilogue == 4) v += load(d->bias, dd->type, (int64_t)i);
                else if (d->epilogue != 1) return NOT_SUPPORTED;
                store(Db, dd->type, at(dd, i, j), v);
            }
    }
    return OK;
}
