/* rand.c - what the workloads draw and time with: splitmix64, Zipf ranks
 * as YCSB draws them, the monotonic clock. */
#define _GNU_SOURCE
#include "tool/tool.h"

#include <math.h>
#include <time.h>

uint64_t tool_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t tool_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void zipf_init(struct zipf *z, uint64_t n, double theta)
{
	double zeta2 = 1 + pow(0.5, theta);

	z->n = n;
	z->theta = theta;
	z->zetan = 0;
	for (uint64_t i = 1; i <= n; i++)
		z->zetan += 1 / pow((double)i, theta);
	z->alpha = 1 / (1 - theta);
	z->eta = (1 - pow(2.0 / (double)n, 1 - theta)) / (1 - zeta2 / z->zetan);
	z->half = 1 + pow(0.5, theta);
}

uint64_t zipf_next(struct zipf *z, uint64_t *rng)
{
	double u = (double)(tool_rand(rng) >> 11) / (double)(1ull << 53);
	double uz = u * z->zetan;

	if (uz < 1)
		return 0;
	if (uz < z->half)
		return 1 < z->n ? 1 : 0;
	uint64_t r = (uint64_t)((double)z->n *
				pow(z->eta * u - z->eta + 1, z->alpha));
	return r < z->n ? r : z->n - 1;
}

