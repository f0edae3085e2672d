/* run_kvm.c - `vmsync run --kvm`: the same run on a real KVM guest whose
 * RAM vmsync's pager keeps within --host-mem; the live line, summary,
 * verdict and --json of its pager and guest. */
#define _GNU_SOURCE
#include "tool/run.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tool/kvm_drive.h"

/* The guest program of each workload, and how often it writes. */
static bool kvm_workload(const char *name, unsigned *wl, unsigned *write_pct)
{
	static const struct {
		const char *name;
		unsigned wl, write_pct;
	} map[] = {
		{ "verify", KVM_WL_VERIFY, 40 }, { "zipf", KVM_WL_ZIPF, 10 },
		{ "stream", KVM_WL_STREAM, 50 }, { "idle", KVM_WL_IDLE, 0 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if (!strcmp(map[i].name, name)) {
			*wl = map[i].wl;
			*write_pct = map[i].write_pct;
			return true;
		}
	return false;
}

bool run_kvm_workload_ok(const char *name)
{
	unsigned wl, pct;

	return kvm_workload(name, &wl, &pct);
}

/* A point of the time series (the plots read t first, then counters by
 * offset). */
struct kvm_sample {
	double t;
	uint64_t ops;
	struct vms_kvm_pager_stats st;
};

struct kvm_series {
	struct kvm_sample *v;
	size_t n, cap;
};

static void kvm_take(struct kvm_drive *d, struct kvm_sample *s, double t)
{
	s->t = t;
	s->ops = atomic_load(&d->ops);
	vms_kvm_pager_stats(d->vm->pager, &s->st);
}

static double mean_fault_us(const struct vms_kvm_pager_stats *a,
			    const struct vms_kvm_pager_stats *b)
{
	uint64_t n = b->faults_zero + b->faults_backend - a->faults_zero -
		     a->faults_backend;

	return n ? (double)(b->fault_ns - a->fault_ns) / 1e3 / (double)n : 0;
}

static void kvm_live_line(const struct run_cfg *cfg,
			  const struct kvm_sample *a,
			  const struct kvm_sample *b, bool tty)
{
	double dt = b->t - a->t;
	char zs[96];

	if (dt <= 0)
		return;
	printf("%s[%5.1fs/%.0fs] ops %7.0f/s  resident %6llu swapped %6llu  "
	       "faults zero %5.0f/s backend %5.0f/s (%5.1f us)  evict %6.0f/s "
	       "clean %5.0f/s  sampled %5.0f/s touched %5.0f/s%s%s",
	       tty ? "\r\033[K" : "", b->t, cfg->duration_ns / 1e9,
	       (b->ops - a->ops) / dt, (unsigned long long)b->st.resident,
	       (unsigned long long)b->st.swapped,
	       (b->st.faults_zero - a->st.faults_zero) / dt,
	       (b->st.faults_backend - a->st.faults_backend) / dt,
	       mean_fault_us(&a->st, &b->st),
	       (b->st.evictions - a->st.evictions) / dt,
	       (b->st.clean_drops - a->st.clean_drops) / dt,
	       (b->st.samples - a->st.samples) / dt,
	       (b->st.faults_sampled - a->st.faults_sampled) / dt,
	       cfg->zswap_bytes ? live_zswap(zs, sizeof(zs), &a->st.zswap,
					     &b->st.zswap, dt) : "",
	       tty ? "" : "\n");
	fflush(stdout);
}

static void kvm_json_series(FILE *f, const struct kvm_series *s)
{
	fprintf(f, "  \"series\": [\n");
	for (size_t i = 0; i < s->n; i++) {
		const struct kvm_sample *x = &s->v[i];

		fprintf(f, "    {\"t\": %.3f, \"ops\": %llu, \"resident\": %llu, "
			"\"swapped\": %llu, \"faults_zero\": %llu, "
			"\"faults_sampled\": %llu, \"faults_backend\": %llu, "
			"\"fault_ns\": %llu, \"evictions\": %llu, "
			"\"clean_drops\": %llu, \"writes\": %llu, "
			"\"samples\": %llu}%s\n",
			x->t, (unsigned long long)x->ops,
			(unsigned long long)x->st.resident,
			(unsigned long long)x->st.swapped,
			(unsigned long long)x->st.faults_zero,
			(unsigned long long)x->st.faults_sampled,
			(unsigned long long)x->st.faults_backend,
			(unsigned long long)x->st.fault_ns,
			(unsigned long long)x->st.evictions,
			(unsigned long long)x->st.clean_drops,
			(unsigned long long)x->st.writes,
			(unsigned long long)x->st.samples,
			i + 1 < s->n ? "," : "");
	}
	fprintf(f, "  ],\n");
}

/* What the JSON record and the page are made of. */
struct kvm_result {
	const struct run_cfg *cfg;
	const struct kvm_drive *d;
	const struct kvm_series *series;
	const struct kvm_sample *end;
	const char *verdict;
	struct vms_swap_backend *zswap;     /* or NULL */
};

static void kvm_json(FILE *f, const void *ctx)
{
	const struct kvm_result *res = ctx;
	const struct run_cfg *cfg = res->cfg;
	const struct kvm_drive *d = res->d;
	const struct kvm_sample *end = res->end;
	const char *verdict = res->verdict;
	const struct vms_kvm_pager_stats *s = &end->st;

	fprintf(f, "{\n  \"kvm\": true,\n  \"verdict\": \"%s\",\n"
		"  \"seconds\": %.3f,\n  \"vcpus\": %u,\n"
		"  \"guest_mem\": %llu,\n  \"host_mem\": %llu,\n"
		"  \"workload\": \"%s\",\n  \"seed\": %llu,\n",
		verdict, end->t, cfg->vcpus,
		(unsigned long long)cfg->guest_mem,
		(unsigned long long)cfg->host_mem, cfg->workload->name,
		(unsigned long long)cfg->seed);
	fprintf(f, "  \"guest\": { \"ops\": %llu, \"page_reads\": %llu, "
		"\"page_writes\": %llu, \"zero_reads\": %llu, "
		"\"mismatches\": %llu },\n",
		(unsigned long long)d->ops, (unsigned long long)d->reads,
		(unsigned long long)d->writes, (unsigned long long)d->zero_reads,
		(unsigned long long)d->mismatches);
	fprintf(f, "  \"pager\": { \"resident\": %llu, \"swapped\": %llu, "
		"\"faults_zero\": %llu, \"faults_backend\": %llu, "
		"\"faults_raced\": %llu, \"readahead\": %llu, "
		"\"evictions\": %llu, \"clean_drops\": %llu, \"writes\": %llu, "
		"\"write_errors\": %llu, \"read_errors\": %llu, "
		"\"discards\": %llu, \"harvests\": %llu, "
		"\"samples\": %llu, \"faults_sampled\": %llu, "
		"\"lazyfree\": %llu, \"throttled_ns\": %llu, "
		"\"mean_fault_us\": %.2f },\n",
		(unsigned long long)s->resident, (unsigned long long)s->swapped,
		(unsigned long long)s->faults_zero,
		(unsigned long long)s->faults_backend,
		(unsigned long long)s->faults_raced,
		(unsigned long long)s->readahead,
		(unsigned long long)s->evictions,
		(unsigned long long)s->clean_drops,
		(unsigned long long)s->writes,
		(unsigned long long)s->write_errors,
		(unsigned long long)s->read_errors,
		(unsigned long long)s->discards,
		(unsigned long long)s->harvests,
		(unsigned long long)s->samples,
		(unsigned long long)s->faults_sampled,
		(unsigned long long)s->lazyfree,
		(unsigned long long)s->throttled_ns,
		mean_fault_us(&(struct vms_kvm_pager_stats){ 0 }, s));
	fprintf(f, "  \"refused_writes\": %llu,\n",
		(unsigned long long)d->refused);
	report_zswap_json(f, res->zswap);
	kvm_json_series(f, res->series);
	fprintf(f, "  \"host_ops\": {");
	for (unsigned i = 0; i < KVM_HOST_OPS; i++)
		fprintf(f, "%s \"%s\": %llu", i ? "," : "", kvm_host_op_names[i],
			(unsigned long long)d->host_ops[i]);
	fprintf(f, " }\n}\n");
}

#define KOFF(field) (unsigned)offsetof(struct kvm_sample, field)

static void kvm_html(FILE *f, const void *ctx)
{
	const struct kvm_result *res = ctx;
	const struct run_cfg *c = res->cfg;
	const struct kvm_drive *d = res->d;
	const struct vms_kvm_pager_stats *s = &res->end->st;
	const struct plot_series ps = { res->series->v, res->series->n,
					sizeof(struct kvm_sample) };
	const struct plot_line mem[] = {
		{ "resident", "#1f77b4", report_u64, KOFF(st.resident), false },
		{ "swapped", "#d62728", report_u64, KOFF(st.swapped), false },
	};
	const struct plot_line thr[] = {
		{ "guest ops/s", "#9467bd", report_u64, KOFF(ops), true },
	};
	const struct plot_line faults[] = {
		{ "zero", "#2ca02c", report_u64, KOFF(st.faults_zero), true },
		{ "swap cache (sampled)", "#ff7f0e", report_u64,
		  KOFF(st.faults_sampled), true },
		{ "backend", "#d62728", report_u64, KOFF(st.faults_backend),
		  true },
	};
	const struct plot_line evict[] = {
		{ "evictions", "#1f77b4", report_u64, KOFF(st.evictions), true },
		{ "written", "#d62728", report_u64, KOFF(st.writes), true },
		{ "dropped clean", "#2ca02c", report_u64, KOFF(st.clean_drops),
		  true },
		{ "sampled", "#8c564b", report_u64, KOFF(st.samples), true },
	};
	const struct {
		const char *name;
		uint64_t v;
	} totals[] = {
		{ "guest_ops", d->ops }, { "guest_page_reads", d->reads },
		{ "guest_page_writes", d->writes },
		{ "guest_zero_reads", d->zero_reads },
		{ "mismatches", d->mismatches },
		{ "faults_zero", s->faults_zero },
		{ "faults_sampled", s->faults_sampled },
		{ "faults_backend", s->faults_backend },
		{ "faults_raced", s->faults_raced },
		{ "readahead", s->readahead }, { "evictions", s->evictions },
		{ "writes", s->writes }, { "clean_drops", s->clean_drops },
		{ "lazyfree", s->lazyfree }, { "samples", s->samples },
		{ "harvests", s->harvests }, { "discards", s->discards },
		{ "write_errors", s->write_errors },
		{ "read_errors", s->read_errors },
		{ "refused_writes", d->refused },
	};

	report_page_begin(f, res->verdict);
	fprintf(f, "<p>A real KVM guest: %u vCPUs, %llu MiB guest RAM paged "
		   "within %llu MiB, swap %llu MiB, workload <b>%s</b>, %.1f s, "
		   "seed %llu, host churn %s; faults took %.1f &micro;s each "
		   "on average.</p>\n",
		c->vcpus, (unsigned long long)(c->guest_mem >> 20),
		(unsigned long long)(c->host_mem >> 20),
		(unsigned long long)(c->swap_size >> 20), c->workload->name,
		res->end->t, (unsigned long long)c->seed,
		c->churn ? "on" : "off",
		mean_fault_us(&(struct vms_kvm_pager_stats){ 0 }, s));
	report_plot(f, "Guest RAM", "pages", &ps, mem, ARRAY_SIZE(mem));
	report_plot(f, "Guest throughput", "ops/s", &ps, thr, ARRAY_SIZE(thr));
	report_plot(f, "Faults by source", "per second", &ps, faults,
		    ARRAY_SIZE(faults));
	report_plot(f, "Eviction and aging", "pages per second", &ps, evict,
		    ARRAY_SIZE(evict));
	fprintf(f, "<h2>Totals</h2>\n<table>\n");
	for (size_t i = 0; i < ARRAY_SIZE(totals); i++)
		report_total_row(f, totals[i].name, totals[i].v, res->end->t);
	for (unsigned i = 0; i < KVM_HOST_OPS; i++) {
		char name[64];

		snprintf(name, sizeof(name), "host %s", kvm_host_op_names[i]);
		report_total_row(f, name, d->host_ops[i], 0);
	}
	report_zswap_rows(f, res->zswap);
	fprintf(f, "</table>\n</body></html>\n");
}

int run_kvm(const struct run_cfg *cfg)
{
	const char *why = kvm_unavailable();
	struct vms_swap_backend *be;
	struct kvm_drive d = { 0 };
	struct kvm_vm *vm;
	pthread_t vt[KVM_MAX_VCPUS], churn;
	int r;

	if (why) {
		fprintf(stderr, "vmsync run --kvm: %s\n", why);
		return EXIT_ERROR;
	}
	r = kvm_vm_create(cfg->guest_mem, cfg->vcpus,
			  (uint64_t)(cfg->zipf_theta * 1000), &vm);
	if (r) {
		fprintf(stderr, "vmsync run --kvm: the VM: %s\n", strerror(-r));
		return EXIT_ERROR;
	}
	struct vms_swap_backend *tier;
	const char *engine;

	if (run_swap_backend(cfg, NULL, &be, &tier, &engine)) {
		kvm_vm_destroy(vm);
		return EXIT_ERROR;
	}
	r = kvm_vm_attach_pager(vm, cfg->host_mem, be);
	if (r) {
		fprintf(stderr, "vmsync run --kvm: the pager (userfaultfd): %s\n",
			strerror(-r));
		be->release(be);
		kvm_vm_destroy(vm);
		return EXIT_ERROR;
	}
	d.vm = vm;
	kvm_workload(cfg->workload->name, &d.workload, &d.write_pct);
	d.seed = cfg->seed;
	d.ops_limit = cfg->ops;
	d.discards = cfg->workload->discards && cfg->churn;
	pthread_mutex_init(&d.report_lock, NULL);
	vm->priv = &d;
	char words[64];
	printf("vmsync run --kvm: %u vCPUs on /dev/kvm, %llu MiB guest RAM "
	       "paged within %llu MiB, %sswap %llu MiB (%s),\n"
	       "            workload %s, host churn %s, ",
	       cfg->vcpus, (unsigned long long)(cfg->guest_mem >> 20),
	       (unsigned long long)(cfg->host_mem >> 20),
	       run_tier_words(cfg, words, sizeof(words)),
	       (unsigned long long)(cfg->swap_size >> 20), engine,
	       cfg->workload->name,
	       !cfg->churn ? "off" : d.discards ? "on" : "on (keeping contents)");
	run_banner_end(cfg);

	uint64_t t0 = tool_now_ns();
	unsigned started = 0;
	bool churn_up = false;

	d.deadline_ns = cfg->duration_ns ? t0 + cfg->duration_ns : 0;
	for (; started < cfg->vcpus; started++)
		if (pthread_create(&vt[started], NULL, kvm_drive_vcpu,
				   &vm->vcpus[started]))
			break;
	if (started == cfg->vcpus && cfg->churn)
		churn_up = !pthread_create(&churn, NULL, kvm_drive_churn, &d);
	if (started < cfg->vcpus || (cfg->churn && !churn_up)) {
		d.host_error = -EAGAIN;
		kvm_drive_stop(&d);
	}

	struct kvm_sample first, last, cur;
	bool tty = isatty(STDOUT_FILENO);

	struct kvm_series series = { 0 };
	int series_err = 0;

	kvm_take(&d, &first, 0);
	last = first;
	if (!report_push((void **)&series.v, &series.n, &series.cap, &first,
			 sizeof(first)))
		series_err = -ENOMEM;
	/* A pager that failed has stopped the vCPUs already. */
	while (!atomic_load(&d.stop) && !atomic_load(&vm->error) &&
	       !series_err) {
		struct timespec ts = { 0, 250000000 };

		nanosleep(&ts, NULL);
		uint64_t now = tool_now_ns();
		kvm_take(&d, &cur, (now - t0) / 1e9);
		if (!report_push((void **)&series.v, &series.n, &series.cap,
				 &cur, sizeof(cur)))
			series_err = -ENOMEM;
		if (d.deadline_ns && now >= d.deadline_ns)
			kvm_drive_stop(&d);
		if (!cfg->quiet && (tty || cur.t - last.t >= 1)) {
			kvm_live_line(cfg, &last, &cur, tty);
			last = cur;
		}
	}
	kvm_drive_stop(&d);
	if (tty && !cfg->quiet)
		printf("\n");
	for (unsigned i = 0; i < started; i++)
		pthread_join(vt[i], NULL);
	if (churn_up)
		pthread_join(churn, NULL);
	kvm_take(&d, &cur, (tool_now_ns() - t0) / 1e9);
	/* The last point, unless the last sample was just now: a rate over
	 * a few milliseconds is noise. */
	if (series.n && cur.t - series.v[series.n - 1].t >= 0.1)
		report_push((void **)&series.v, &series.n, &series.cap, &cur,
			    sizeof(cur));

	const struct vms_kvm_pager_stats *s = &cur.st;
	double secs = cur.t;
	int err = atomic_load(&vm->error);

	printf("\nsummary after %.1f s\n", secs);
	printf("  guest operations  %10llu  (%.0f/s): %llu page reads "
	       "verified, %llu page writes, %llu discarded pages read as "
	       "zero\n",
	       (unsigned long long)d.ops, d.ops / secs,
	       (unsigned long long)d.reads, (unsigned long long)d.writes,
	       (unsigned long long)d.zero_reads);
	printf("  resident          %10llu pages (budget %llu), %llu swapped\n",
	       (unsigned long long)s->resident,
	       (unsigned long long)(cfg->host_mem / PAGE),
	       (unsigned long long)s->swapped);
	printf("  faults            %10llu zero, %llu from the swap cache (the "
	       "sample ring), %llu from the backend, %llu raced; %llu pages "
	       "read ahead; %.1f us each, %.3f s waiting for the reclaimer\n",
	       (unsigned long long)s->faults_zero,
	       (unsigned long long)s->faults_sampled,
	       (unsigned long long)s->faults_backend,
	       (unsigned long long)s->faults_raced,
	       (unsigned long long)s->readahead,
	       mean_fault_us(&first.st, s), s->throttled_ns / 1e9);
	printf("  evictions         %10llu  (%.0f/s): %llu written, %llu "
	       "dropped clean, %llu freed; %llu dirty-log harvests\n",
	       (unsigned long long)s->evictions, s->evictions / secs,
	       (unsigned long long)s->writes,
	       (unsigned long long)s->clean_drops,
	       (unsigned long long)s->lazyfree,
	       (unsigned long long)s->harvests);
	printf("  aging             %10llu pages sampled, %llu of them touched "
	       "by the guest and moved back\n",
	       (unsigned long long)s->samples,
	       (unsigned long long)s->faults_sampled);
	printf("  refused writes    %10llu  (read-only a while: retried when "
	       "the host gave the rights back)\n",
	       (unsigned long long)d.refused);
	run_zswap_summary(tier);
	printf("  host operations  ");
	for (unsigned i = 0; i < KVM_HOST_OPS; i++)
		printf(" %s %llu", kvm_host_op_names[i],
		       (unsigned long long)d.host_ops[i]);
	printf("\n");

	int rc;
	if (!err)
		err = d.host_error ? d.host_error : series_err;
	if (err || (d.vcpu_exit != KVM_VCPU_DONE &&
		    d.vcpu_exit != KVM_VCPU_STOPPED)) {
		printf("verdict: error (%s)\n",
		       err ? strerror(-err) : "a vCPU stopped: see above");
		rc = EXIT_ERROR;
	} else if (d.mismatches) {
		printf("verdict: %llu mismatches\n",
		       (unsigned long long)d.mismatches);
		for (unsigned i = 0; i < d.nr_reported; i++)
			printf("  gpa %#llx: expected %#018llx, got %#018llx\n",
			       (unsigned long long)d.reported[i].gpa,
			       (unsigned long long)d.reported[i].expected,
			       (unsigned long long)d.reported[i].got);
		rc = EXIT_MISMATCH;
	} else {
		printf("verdict: verified\n");
		rc = EXIT_VERIFIED;
	}
	const struct kvm_result res = {
		.cfg = cfg, .d = &d, .series = &series, .end = &cur,
		.zswap = tier,
		.verdict = rc == EXIT_VERIFIED ? "verified"
			   : rc == EXIT_MISMATCH ? "mismatches" : "error" };
	rc = report_files(cfg, rc, kvm_json, kvm_html, &res);
	free(series.v);
	kvm_vm_destroy(vm);
	pthread_mutex_destroy(&d.report_lock);
	return rc;
}
