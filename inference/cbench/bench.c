//go:build ignore

// bench.c is the plain-C baseline of Talon's overhead benchmark: it dlopens
// libonnxruntime.so, loads an ONNX model with the ONNX Runtime C API (one
// intra-op and one inter-op thread, like Talon's default), and times
// inferences. Each inference does what a minimal C server does per request:
// wrap the caller's input buffer in an OrtValue, run the session with the
// output allocated by ONNX Runtime, read the output, release both values.
//
// Usage: bench LIB MODEL INPUT OUTPUT COLS
//
// It then reads commands from stdin, one per line, "BATCH MIN_NS": warm up with
// 3 inferences of BATCH rows, run at least 100 and for at least MIN_NS
// nanoseconds, and print (and flush) one line:
//
//	batch=B iters=N ns_per_inference=X ns_per_row=Y sum=S
//
// where S is the sum of the outputs of one inference. It exits at end of input.
// The input rows are the ones inference/bench_test.go's pdmRows makes, padded
// with 1s beyond six columns. Errors go to stderr with exit status 1.
//
// The go:build line keeps this file out of the Go package; package cbench
// embeds it and compiles it with gcc.

#define _POSIX_C_SOURCE 199309L
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "onnxruntime_c_api.h"

static const OrtApi *api;

static void check(OrtStatus *st, const char *what) {
	if (st == NULL) {
		return;
	}
	fprintf(stderr, "%s: %s\n", what, api->GetErrorMessage(st));
	api->ReleaseStatus(st);
	exit(1);
}

static long long now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static char *read_file(const char *path, size_t *len) {
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		perror(path);
		exit(1);
	}
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc(n > 0 ? n : 1);
	if (buf == NULL || fread(buf, 1, n, f) != (size_t)n) {
		fprintf(stderr, "read %s failed\n", path);
		exit(1);
	}
	fclose(f);
	*len = (size_t)n;
	return buf;
}

// rows fills n rows of cols features like pdmRows in inference/bench_test.go.
static float *rows(long n, long cols) {
	static const float base[6] = {86, 5.5f, 5.8f, 33, 2100, 13000};
	float *out = malloc(sizeof(float) * n * cols);
	for (long i = 0; i < n; i++) {
		for (long j = 0; j < cols; j++) {
			float b = j < 6 ? base[j] : 1;
			out[i * cols + j] = b * (1 + (float)((i + j) % 7 - 3) / 50);
		}
	}
	return out;
}

// infer runs one inference of batch rows and returns the sum of the outputs.
static double infer(OrtSession *sess, OrtMemoryInfo *mem, const char *input,
		const char *output, float *data, long batch, long cols) {
	int64_t shape[2] = {batch, cols};
	OrtValue *in = NULL, *out = NULL;
	check(api->CreateTensorWithDataAsOrtValue(mem, data, sizeof(float) * batch * cols,
			shape, 2, ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &in), "create input");
	check(api->Run(sess, NULL, &input, (const OrtValue *const *)&in, 1, &output, 1, &out), "run");
	float *res = NULL;
	check(api->GetTensorMutableData(out, (void **)&res), "output data");
	OrtTensorTypeAndShapeInfo *info = NULL;
	size_t count = 0;
	check(api->GetTensorTypeAndShape(out, &info), "output shape");
	check(api->GetTensorShapeElementCount(info, &count), "output count");
	api->ReleaseTensorTypeAndShapeInfo(info);
	double sum = 0;
	for (size_t i = 0; i < count; i++) {
		sum += res[i];
	}
	api->ReleaseValue(out);
	api->ReleaseValue(in);
	return sum;
}

int main(int argc, char **argv) {
	if (argc != 6) {
		fprintf(stderr, "usage: %s LIB MODEL INPUT OUTPUT COLS\n", argv[0]);
		return 1;
	}
	void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 1;
	}
	const OrtApiBase *(*get_base)(void) = (const OrtApiBase *(*)(void))dlsym(lib, "OrtGetApiBase");
	if (get_base == NULL) {
		fprintf(stderr, "dlsym OrtGetApiBase: %s\n", dlerror());
		return 1;
	}
	api = get_base()->GetApi(ORT_API_VERSION);
	if (api == NULL) {
		fprintf(stderr, "ONNX Runtime %s does not offer API version %d\n",
			get_base()->GetVersionString(), ORT_API_VERSION);
		return 1;
	}
	const char *input = argv[3], *output = argv[4];
	long cols = atol(argv[5]);

	OrtEnv *env = NULL;
	check(api->CreateEnv(ORT_LOGGING_LEVEL_ERROR, "cbench", &env), "create env");
	OrtSessionOptions *so = NULL;
	check(api->CreateSessionOptions(&so), "session options");
	check(api->SetIntraOpNumThreads(so, 1), "intra-op threads");
	check(api->SetInterOpNumThreads(so, 1), "inter-op threads");
	size_t model_len = 0;
	char *model = read_file(argv[2], &model_len);
	OrtSession *sess = NULL;
	check(api->CreateSessionFromArray(env, model, model_len, so, &sess), "create session");
	OrtMemoryInfo *mem = NULL;
	check(api->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &mem), "memory info");

	long batch = 0;
	long long min_ns = 0;
	while (scanf("%ld %lld", &batch, &min_ns) == 2) {
		if (batch < 1) {
			fprintf(stderr, "batch %ld, want at least 1\n", batch);
			return 1;
		}
		float *data = rows(batch, cols);
		double sum = 0;
		for (int i = 0; i < 3; i++) {
			sum = infer(sess, mem, input, output, data, batch, cols);
		}
		long long iters = 0, start = now_ns(), elapsed = 0;
		while (iters < 100 || elapsed < min_ns) {
			sum = infer(sess, mem, input, output, data, batch, cols);
			iters++;
			if ((iters & 15) == 0 || iters < 100) {
				elapsed = now_ns() - start;
			}
		}
		elapsed = now_ns() - start;
		printf("batch=%ld iters=%lld ns_per_inference=%.1f ns_per_row=%.3f sum=%.9g\n", batch, iters,
			(double)elapsed / iters, (double)elapsed / iters / batch, sum);
		fflush(stdout);
		free(data);
	}
	api->ReleaseMemoryInfo(mem);
	api->ReleaseSession(sess);
	api->ReleaseSessionOptions(so);
	api->ReleaseEnv(env);
	free(model);
	return 0;
}
