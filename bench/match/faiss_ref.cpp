/*
 * faiss_ref.cpp - FAISS IndexFlatIP reference for the top-k cross match bar:
 * the same 20000 queries x 20000 base rows x 512-d as bench_match (same seed),
 * k = 100, FAISS's default threading (OpenMP + its BLAS). Prints the best of
 * ROUNDS search times and how many of bench_match's top-k ids for the first
 * queries FAISS also returns (a sanity check that both answer the same
 * question; near-ties may swap at the k-th place).
 *
 * Usage: faiss_ref N D ROUNDS IDS_FILE   (built only by bench/match/run; the
 * ids file is written by "bench_match topk" beforehand)
 */
#include "bench_data.h"

#include <faiss/IndexFlat.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <unordered_set>
#include <vector>

static const int TOPK = 100;
static const size_t IDS_QUERIES = 1000;

static double now()
{
	using namespace std::chrono;
	return duration<double>(steady_clock::now().time_since_epoch()).count();
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		std::fprintf(stderr, "usage: %s N D ROUNDS IDS_FILE\n", argv[0]);
		return 2;
	}
	size_t n = std::strtoul(argv[1], nullptr, 10), d = std::strtoul(argv[2], nullptr, 10);
	int rounds = std::atoi(argv[3]);
	std::vector<float> x(n * d), y(n * d);
	bench_fill(x.data(), n, d, 1);
	bench_fill(y.data(), n, d, 2);

	faiss::IndexFlatIP index((faiss::Index::idx_t)d);
	index.add((faiss::Index::idx_t)n, x.data());
	std::vector<float> dist(n * TOPK);
	std::vector<faiss::Index::idx_t> ids(n * TOPK);
	double best = 1e30, best_cpu = 1e30;
	for (int r = 0; r < rounds; r++) {
		double t = now(), c = bench_cpu_now();
		index.search((faiss::Index::idx_t)n, y.data(), TOPK, dist.data(), ids.data());
		t = now() - t, c = bench_cpu_now() - c;
		best = t < best ? t : best;
		best_cpu = c < best_cpu ? c : best_cpu;
	}
	std::printf("faiss_topk_s %.4f\n", best);
	std::printf("faiss_topk_cpu_s %.4f\n", best_cpu);

	/* agreement with bench_match's ids (positive similarities only) */
	FILE *f = std::fopen(argv[4], "rb");
	if (!f)
		return 1;
	size_t nq = n < IDS_QUERIES ? n : IDS_QUERIES, same = 0, total = 0;
	std::vector<uint32_t> ours(TOPK);
	for (size_t i = 0; i < nq; i++) {
		if (std::fread(ours.data(), sizeof(uint32_t), TOPK, f) != (size_t)TOPK)
			break;
		std::unordered_set<uint32_t> mine(ours.begin(), ours.end());
		for (int p = 0; p < TOPK; p++) {
			if (dist[i * TOPK + p] <= 0)
				continue;
			total++;
			same += mine.count((uint32_t)ids[i * TOPK + p]);
		}
	}
	std::fclose(f);
	std::printf("faiss_agreement %.6f\n", total ? (double)same / (double)total : 0.0);
	return 0;
}
