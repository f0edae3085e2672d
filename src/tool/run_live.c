/* run_live.c - what `vmsync run` shows while and after it runs: the time
 * series it samples every 250 ms (for --json and --report), the live line,
 * the summary and the verdict. */
#define _GNU_SOURCE
#include "tool/run.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmsync.h"

static void take_sample(const struct run *run, struct sample *x, double t)
{
	struct vms_vm_stats st;
	struct vms_phys_stats vs;

	vms_vm_stats(run->vm, &st);
	vms_phys_stats(run->phys, &vs);
	*x = (struct sample){
		.t = t,
		.ops = atomic_load(&run->ops),
		.bytes = atomic_load(&run->bytes),
		.swap_used = vs.swap_used,
		.faults = st.faults,
		.retries = st.fault_retries,
		.invalidations = st.invalidations,
		.flushes = st.tlb_flushes,
		.pgmajfault = vs.pgmajfault,
		.pswpin = vs.pswpin,
		.pswpout = vs.pswpout,
		.pgmigrate = vs.pgmigrate,
		.zswap = vs.zswap,
	};
	for (unsigned i = 0; i < run->cfg.nodes; i++) {
		x->node_free[i] = vs.node[i].free;
		x->node_resident[i] = vs.node[i].frames - vs.node[i].free;
	}
}

static bool series_add(struct series *s, const struct sample *x)
{
	return report_push((void **)&s->v, &s->n, &s->cap, x, sizeof(*x));
}

/* "a+b+c": one value per node. */
static const char *per_node(const struct run *run, char *buf, size_t size,
			    const uint64_t *v)
{
	size_t at = 0;

	buf[0] = 0;
	for (unsigned i = 0; i < run->cfg.nodes && at < size; i++)
		at += (size_t)snprintf(buf + at, size - at, "%s%llu", i ? "+" : "",
				       (unsigned long long)v[i]);
	return buf;
}

/* One status line: on a terminal redrawn in place, elsewhere one line a
 * sample.  Rates are over the last interval. */
static void live_line(const struct run *run, const struct sample *a,
		      const struct sample *b, bool tty)
{
	double dt = b->t - a->t;
	char eta[32] = "", res[96], free_[96], zs[96];

	if (dt <= 0)
		return;
	if (run->cfg.duration_ns)
		snprintf(eta, sizeof(eta), "/%.0fs", run->cfg.duration_ns / 1e9);
	printf("%s[%5.1fs%s] ops %7.0f/s  res %s free %s  swap %6llu  "
	       "faults %6.0f/s  in %6.0f/s out %6.0f/s  mig %5.0f/s  "
	       "inval %5.0f/s  flush %5.0f/s  retry %4.0f/s%s%s",
	       tty ? "\r\033[K" : "", b->t, eta, (b->ops - a->ops) / dt,
	       per_node(run, res, sizeof(res), b->node_resident),
	       per_node(run, free_, sizeof(free_), b->node_free),
	       (unsigned long long)b->swap_used, (b->faults - a->faults) / dt,
	       (b->pswpin - a->pswpin) / dt, (b->pswpout - a->pswpout) / dt,
	       (b->pgmigrate - a->pgmigrate) / dt,
	       (b->invalidations - a->invalidations) / dt,
	       (b->flushes - a->flushes) / dt, (b->retries - a->retries) / dt,
	       run->zswap ? live_zswap(zs, sizeof(zs), &a->zswap, &b->zswap, dt)
			  : "",
	       tty ? "" : "\n");
	fflush(stdout);
}


void run_watch(struct run *run, uint64_t t0, struct series *series)
{
	struct sample cur, last_shown;
	bool tty = isatty(STDOUT_FILENO);

	take_sample(run, &cur, 0);
	if (!series_add(series, &cur))
		run_fail(run, -ENOMEM);
	last_shown = cur;
	while (!atomic_load(&run->stop)) {
		uint64_t now = tool_now_ns();

		if (run->cfg.duration_ns && now - t0 >= run->cfg.duration_ns)
			break;
		uint64_t left = run->cfg.duration_ns
					? run->cfg.duration_ns - (now - t0)
					: 250000000;
		struct timespec ts = { 0, left < 250000000 ? (long)left
							   : 250000000 };
		nanosleep(&ts, NULL);
		take_sample(run, &cur, (tool_now_ns() - t0) / 1e9);
		if (!series_add(series, &cur))
			run_fail(run, -ENOMEM);
		if (!run->cfg.quiet && (tty || cur.t - last_shown.t >= 1)) {
			live_line(run, &last_shown, &cur, tty);
			last_shown = cur;
		}
	}
	if (tty && !run->cfg.quiet)
		printf("\n");
}

int run_summary(struct run *run, double secs, struct series *series)
{
	/* The last point, unless the last sample was just now: a rate over
	 * a few milliseconds is noise. */
	struct sample cur;

	take_sample(run, &cur, secs);
	if (secs - series->v[series->n - 1].t >= 0.1)
		series_add(series, &cur);
	struct vms_vm_stats st;
	struct vms_mm_stats ms;
	vms_vm_stats(run->vm, &st);
	vms_mm_stats(run->mm, &ms);
	uint64_t accesses = st.guest_reads + st.guest_writes;
	printf("\nsummary after %.1f s\n", secs);
	printf("  guest operations  %10llu  (%.0f/s; %llu MiB moved, %.0f MiB/s)\n",
	       (unsigned long long)run->ops, run->ops / secs,
	       (unsigned long long)(run->bytes >> 20), (run->bytes >> 20) / secs);
	printf("  guest accesses    %10llu  (%.0f/s)\n",
	       (unsigned long long)accesses, accesses / secs);
	printf("  shadow faults     %10llu  (%.0f/s), %llu retried\n",
	       (unsigned long long)st.faults, st.faults / secs,
	       (unsigned long long)st.fault_retries);
	printf("  invalidations     %10llu  (%.0f/s), %llu sptes zapped\n",
	       (unsigned long long)st.invalidations, st.invalidations / secs,
	       (unsigned long long)st.zapped);
	printf("  TLB flushes       %10llu  (%.0f/s), %llu waited for a vCPU\n",
	       (unsigned long long)st.tlb_flushes, st.tlb_flushes / secs,
	       (unsigned long long)st.flush_waits);
	printf("  refused accesses  %10llu  (retried until the host gave the "
	       "page back)\n",
	       (unsigned long long)run->refused);
	printf("  host pages        %10llu faulted in, %llu freed, %llu resident\n",
	       (unsigned long long)ms.pgfault, (unsigned long long)ms.pgfree,
	       (unsigned long long)ms.resident);
	struct vms_phys_stats vs;
	vms_phys_stats(run->phys, &vs);
	printf("  swap              %10llu pages out, %llu in (%llu major faults, "
	       "%llu from the swap cache)\n",
	       (unsigned long long)vs.pswpout, (unsigned long long)vs.pswpin,
	       (unsigned long long)vs.pgmajfault,
	       (unsigned long long)vs.swapcache_hit);
	printf("  reclaim           %10llu scanned, %llu freed, %llu dropped clean, "
	       "%llu lazyfree, %llu migrated\n",
	       (unsigned long long)vs.pgscan, (unsigned long long)vs.pgsteal,
	       (unsigned long long)vs.clean_drop, (unsigned long long)vs.lazyfree,
	       (unsigned long long)vs.pgmigrate);
	run_zswap_summary(run->zswap);
	printf("  host operations  ");
	for (size_t i = 0; i < NR_HOST_OPS; i++)
		printf(" %s %llu", churn_ops[i].name,
		       (unsigned long long)run->host_ops[i]);
	printf("\n");

	int rc;
	if (run->error) {
		printf("verdict: error (%s)\n", strerror(-run->error));
		rc = EXIT_ERROR;
	} else if (run->mismatches || st.violations) {
		printf("verdict: %llu mismatches, %llu invariant violations\n",
		       (unsigned long long)run->mismatches,
		       (unsigned long long)st.violations);
		for (uint64_t i = 0; i < run->mismatches && i < MAX_REPORTED; i++)
			printf("  gfn %#llx offset %#llx: expected %#018llx, got "
			       "%#018llx\n",
			       (unsigned long long)(run->reported[i].gpa / PAGE),
			       (unsigned long long)(run->reported[i].gpa % PAGE),
			       (unsigned long long)run->reported[i].want,
			       (unsigned long long)run->reported[i].got);
		rc = EXIT_MISMATCH;
	} else {
		printf("verdict: verified\n");
		rc = EXIT_VERIFIED;
	}

	struct run_result res = {
		.run = run,
		.zswap = run->zswap,
		.seconds = secs, .vm = st, .vmstat = vs, .mm = ms,
		.series = series,
		.verdict = rc == EXIT_VERIFIED ? "verified"
			   : rc == EXIT_MISMATCH ? "mismatches"
						 : "error" };
	return report_run_files(rc, &res);
}
