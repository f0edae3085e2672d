/* report.c - what `vmsync run` leaves behind: the JSON record (summary and
 * time series; schema in doc/run.schema.json and vmsync(1)) and a
 * self-contained HTML page whose plots are inline SVG drawn here. */
#define _GNU_SOURCE
#include "tool/run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The counters of the summary, named as in the JSON and the page. */
struct total {
	const char *name;
	uint64_t v;
};

static size_t totals(const struct run_result *r, struct total *t)
{
	const struct vms_vm_stats *m = &r->vm;
	const struct vms_phys_stats *s = &r->vmstat;
	size_t n = 0;

#define T(name, val) t[n++] = (struct total){ name, (uint64_t)(val) }
	T("guest_ops", r->run->ops);
	T("guest_bytes", r->run->bytes);
	T("guest_reads", m->guest_reads);
	T("guest_writes", m->guest_writes);
	T("shadow_faults", m->faults);
	T("fault_retries", m->fault_retries);
	T("fault_prechecks", m->fault_prechecks);
	T("invalidations", m->invalidations);
	T("sptes_zapped", m->zapped);
	T("tlb_flushes", m->tlb_flushes);
	T("flush_waits", m->flush_waits);
	T("refused_accesses", r->run->refused);
	T("invariant_violations", m->violations);
	T("pgfault", s->pgfault);
	T("pgmajfault", s->pgmajfault);
	T("pswpin", s->pswpin);
	T("pswpout", s->pswpout);
	T("swapcache_hit", s->swapcache_hit);
	T("pgscan", s->pgscan);
	T("pgsteal", s->pgsteal);
	T("lazyfree", s->lazyfree);
	T("clean_drop", s->clean_drop);
	T("pgmigrate", s->pgmigrate);
	T("swap_write_errors", s->swap_write_errors);
	T("swap_read_errors", s->swap_read_errors);
#undef T
	return n;
}

#define MAX_TOTALS 32

static void json_nodes(FILE *f, const char *name, const uint64_t *v,
		       unsigned nodes)
{
	fprintf(f, ", \"%s\": [", name);
	for (unsigned i = 0; i < nodes; i++)
		fprintf(f, "%s%llu", i ? ", " : "", (unsigned long long)v[i]);
	fprintf(f, "]");
}

static void json_body(FILE *f, const struct run_result *r,
		      const struct total *t, size_t nt)
{
	const struct run_cfg *c = &r->run->cfg;

	fprintf(f, "{\n  \"vmsync\": \"run\",\n  \"version\": 1,\n");
	fprintf(f, "  \"config\": {\"vcpus\": %u, \"guest_mem\": %llu, "
		   "\"host_mem\": %llu, \"nodes\": %d, \"swap_size\": %llu, "
		   "\"workload\": \"%s\", \"duration_s\": %.3f, \"ops\": %llu, "
		   "\"seed\": %llu, \"churn\": %s, \"tiering\": %s, "
		   "\"content\": \"%s\", \"zswap\": %llu},\n",
		c->vcpus, (unsigned long long)c->guest_mem,
		(unsigned long long)c->host_mem, c->nodes,
		(unsigned long long)c->swap_size, c->workload->name,
		c->duration_ns / 1e9, (unsigned long long)c->ops,
		(unsigned long long)c->seed, c->churn ? "true" : "false",
		c->tiering ? "true" : "false", content_names[c->content],
		(unsigned long long)c->zswap_bytes);
	fprintf(f, "  \"verdict\": \"%s\",\n  \"seconds\": %.3f,\n", r->verdict,
		r->seconds);
	fprintf(f, "  \"mismatches\": %llu,\n  \"first_mismatches\": [",
		(unsigned long long)r->run->mismatches);
	for (uint64_t i = 0; i < r->run->mismatches && i < MAX_REPORTED; i++)
		fprintf(f, "%s{\"gpa\": %llu, \"expected\": %llu, \"got\": %llu}",
			i ? ", " : "", (unsigned long long)r->run->reported[i].gpa,
			(unsigned long long)r->run->reported[i].want,
			(unsigned long long)r->run->reported[i].got);
	fprintf(f, "],\n  \"totals\": {");
	for (size_t i = 0; i < nt; i++)
		fprintf(f, "%s\"%s\": %llu", i ? ", " : "", t[i].name,
			(unsigned long long)t[i].v);
	fprintf(f, "},\n  \"host_ops\": {");
	for (size_t i = 0; i < NR_HOST_OPS; i++)
		fprintf(f, "%s\"%s\": %llu", i ? ", " : "", churn_ops[i].name,
			(unsigned long long)r->run->host_ops[i]);
	fprintf(f, "},\n");
	report_zswap_json(f, r->zswap);
	fprintf(f, "  \"series\": [\n");
	for (size_t i = 0; i < r->series->n; i++) {
		const struct sample *x = &r->series->v[i];

		fprintf(f, "    {\"t\": %.3f, \"ops\": %llu, \"bytes\": %llu",
			x->t, (unsigned long long)x->ops,
			(unsigned long long)x->bytes);
		json_nodes(f, "node_resident", x->node_resident, r->run->cfg.nodes);
		json_nodes(f, "node_free", x->node_free, r->run->cfg.nodes);
		fprintf(f, ", \"swap_used\": %llu, \"faults\": %llu, "
			   "\"retries\": %llu, \"invalidations\": %llu, "
			   "\"flushes\": %llu, \"pgmajfault\": %llu, "
			   "\"pswpin\": %llu, \"pswpout\": %llu, "
			   "\"pgmigrate\": %llu}%s\n",
			(unsigned long long)x->swap_used,
			(unsigned long long)x->faults,
			(unsigned long long)x->retries,
			(unsigned long long)x->invalidations,
			(unsigned long long)x->flushes,
			(unsigned long long)x->pgmajfault,
			(unsigned long long)x->pswpin,
			(unsigned long long)x->pswpout,
			(unsigned long long)x->pgmigrate,
			i + 1 < r->series->n ? "," : "");
	}
	fprintf(f, "  ]\n}\n");
}

void report_zswap_json(FILE *f, struct vms_swap_backend *tier)
{
	struct vms_zswap_stats z;

	if (!tier || vms_swap_zswap_stats(tier, &z))
		return;
	fprintf(f, "  \"zswap\": {\"compressor\": \"%s\", \"stored\": %llu, "
		"\"same_filled\": %llu, \"pool_bytes\": %llu, "
		"\"compressed_bytes\": %llu, \"stores\": %llu, "
		"\"loads\": %llu, \"rejects\": %llu, \"writebacks\": %llu, "
		"\"writeback_errors\": %llu},\n",
		z.compressor == VMS_ZSWAP_ZSTD ? "zstd" : "lz4",
		(unsigned long long)z.stored,
		(unsigned long long)z.same_filled,
		(unsigned long long)z.pool_bytes,
		(unsigned long long)z.compressed_bytes,
		(unsigned long long)z.stores, (unsigned long long)z.loads,
		(unsigned long long)z.rejects, (unsigned long long)z.writebacks,
		(unsigned long long)z.writeback_errors);
}

const char *live_zswap(char *buf, size_t size, const struct vms_zswap_stats *a,
		       const struct vms_zswap_stats *b, double dt)
{
	snprintf(buf, size, "  zswap %6llu (%4.2fx) load %5.0f/s wb %5.0f/s",
		 (unsigned long long)b->stored,
		 b->pool_bytes ? (double)b->stored * 4096 / (double)b->pool_bytes
			       : 0.0,
		 (double)(b->loads - a->loads) / dt,
		 (double)(b->writebacks - a->writebacks) / dt);
	return buf;
}

void report_zswap_rows(FILE *f, struct vms_swap_backend *tier)
{
	struct vms_zswap_stats z;

	if (!tier || vms_swap_zswap_stats(tier, &z))
		return;
	const struct { const char *name; uint64_t v; } rows[] = {
		{ "compressed tier: pages", z.stored },
		{ "compressed tier: same-filled", z.same_filled },
		{ "compressed tier: frames' bytes", z.pool_bytes },
		{ "compressed tier: compressed bytes", z.compressed_bytes },
		{ "compressed tier: stores", z.stores },
		{ "compressed tier: loads", z.loads },
		{ "compressed tier: rejects", z.rejects },
		{ "compressed tier: written back", z.writebacks },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		report_total_row(f, rows[i].name, rows[i].v, 0);
}

bool report_push(void **v, size_t *n, size_t *cap, const void *x,
		 size_t size)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 256;
		void *nv = realloc(*v, c * size);

		if (!nv)
			return false;
		*v = nv;
		*cap = c;
	}
	memcpy((char *)*v + (*n)++ * size, x, size);
	return true;
}

/* ---- the HTML page ---- */

static double g_resident(const void *x, unsigned node)
{
	return (double)((const struct sample *)x)->node_resident[node];
}

double report_u64(const void *x, unsigned off)
{
	return (double)*(const uint64_t *)((const char *)x + off);
}

#define W 760
#define H 220
#define PADL 70
#define PADB 30
#define PADT 12                 /* room for the top axis label */

static const void *point(const struct plot_series *s, size_t i)
{
	return (const char *)s->v + i * s->stride;
}

static double t_of(const struct plot_series *s, size_t i)
{
	return *(const double *)point(s, i);
}

static double value(const struct plot_line *l, const struct plot_series *s,
		    size_t i)
{
	if (!l->rate)
		return l->get(point(s, i), l->arg);
	if (i == 0)
		return 0;
	double dt = t_of(s, i) - t_of(s, i - 1);

	return dt > 0 ? (l->get(point(s, i), l->arg) -
			 l->get(point(s, i - 1), l->arg)) / dt
		      : 0;
}

void report_plot(FILE *f, const char *title, const char *unit,
		 const struct plot_series *s, const struct plot_line *lines,
		 size_t nl)
{
	double tmax = s->n ? t_of(s, s->n - 1) : 1, ymax = 1;

	for (size_t l = 0; l < nl; l++)
		for (size_t i = 0; i < s->n; i++)
			if (value(&lines[l], s, i) > ymax)
				ymax = value(&lines[l], s, i);
	if (tmax <= 0)
		tmax = 1;
	fprintf(f, "<h2>%s <small>(%s)</small></h2>\n<svg width=\"%d\" "
		   "height=\"%d\" xmlns=\"http://www.w3.org/2000/svg\" "
		   "role=\"img\">\n",
		title, unit, W, H + 20 + 16 * (int)((nl - 1) / 4));
	fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
		   "fill=\"#fafafa\" stroke=\"#999\"/>\n",
		PADL, PADT, W - PADL - 10, H - PADB - PADT);
	for (int k = 0; k <= 4; k++) {
		double y = PADT + (H - PADB - PADT) * (1 - k / 4.0);

		fprintf(f, "<text x=\"%d\" y=\"%.0f\" font-size=\"11\" "
			   "text-anchor=\"end\">%.0f</text>\n",
			PADL - 4, y + 4, ymax * k / 4);
		fprintf(f, "<text x=\"%.0f\" y=\"%d\" font-size=\"11\" "
			   "text-anchor=\"middle\">%.1fs</text>\n",
			PADL + (W - PADL - 10) * k / 4.0, H - PADB + 15, tmax * k / 4);
	}
	for (size_t l = 0; l < nl; l++) {
		fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" "
			   "stroke-width=\"1.5\" points=\"",
			lines[l].color);
		for (size_t i = 0; i < s->n; i++)
			fprintf(f, "%.1f,%.1f ",
				PADL + (W - PADL - 10) * t_of(s, i) / tmax,
				PADT + (H - PADB - PADT) *
					       (1 - value(&lines[l], s, i) / ymax));
		/* The legend, four to a row. */
		size_t lx = PADL + 160 * (l % 4), ly = H + 5 + 16 * (l / 4);

		fprintf(f, "\"/>\n<rect x=\"%zu\" y=\"%zu\" width=\"10\" "
			   "height=\"10\" fill=\"%s\"/><text x=\"%zu\" "
			   "y=\"%zu\" font-size=\"12\">%s</text>\n",
			lx, ly, lines[l].color, lx + 14, ly + 9, lines[l].label);
	}
	fprintf(f, "</svg>\n");
}

void report_page_begin(FILE *f, const char *verdict)
{
	fprintf(f, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
		   "<title>vmsync run: %s</title>\n<style>body{font-family:"
		   "sans-serif;margin:24px;color:#222}table{border-collapse:"
		   "collapse}td{padding:2px 12px;border-bottom:1px solid #ddd}"
		   ".ok{color:#070}.bad{color:#b00}</style></head><body>\n",
		verdict);
	fprintf(f, "<h1>vmsync run &mdash; <span class=\"%s\">%s</span></h1>\n",
		strcmp(verdict, "verified") ? "bad" : "ok", verdict);
}

void report_total_row(FILE *f, const char *name, uint64_t v, double seconds)
{
	fprintf(f, "<tr><td>%s</td><td align=\"right\">%llu</td>"
		   "<td align=\"right\">", name, (unsigned long long)v);
	if (seconds > 0)
		fprintf(f, "%.0f/s", v / seconds);
	fprintf(f, "</td></tr>\n");
}

#define OFF(field) (unsigned)offsetof(struct sample, field)

static void html_body(FILE *f, const struct run_result *r,
		      const struct total *t, size_t nt)
{
	const struct run_cfg *c = &r->run->cfg;

	report_page_begin(f, r->verdict);
	fprintf(f, "<p>%u vCPUs, %llu MiB guest RAM on %llu MiB of host frames "
		   "(%d nodes), swap %llu MiB, workload <b>%s</b>, %.1f s, seed "
		   "%llu, host churn %s%s.</p>\n",
		c->vcpus, (unsigned long long)(c->guest_mem >> 20),
		(unsigned long long)(c->host_mem >> 20), c->nodes,
		(unsigned long long)(c->swap_size >> 20), c->workload->name,
		r->seconds, (unsigned long long)c->seed, c->churn ? "on" : "off",
		c->tiering ? ", tiering" : "");

	static const char *const colors[VMS_MAX_NODES] = {
		"#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd",
		"#8c564b", "#e377c2", "#7f7f7f", "#bcbd22" };
	static const char *const names[VMS_MAX_NODES] = {
		"resident, node 0", "resident, node 1", "resident, node 2",
		"resident, node 3", "resident, node 4", "resident, node 5",
		"resident, node 6", "resident, node 7" };
	struct plot_line mem[VMS_MAX_NODES + 1];
	size_t nm = 0;

	for (unsigned i = 0; i < c->nodes; i++)
		mem[nm++] = (struct plot_line){ names[i], colors[i], g_resident,
						i, false };
	mem[nm++] = (struct plot_line){ "swapped", "#d62728", report_u64,
					OFF(swap_used), false };
	const struct plot_line thr[] = {
		{ "guest ops/s", "#9467bd", report_u64, OFF(ops), true },
	};
	const struct plot_line rates[] = {
		{ "shadow faults", "#1f77b4", report_u64, OFF(faults), true },
		{ "swap-ins", "#2ca02c", report_u64, OFF(pswpin), true },
		{ "swap-outs", "#d62728", report_u64, OFF(pswpout), true },
		{ "invalidations", "#ff7f0e", report_u64, OFF(invalidations),
		  true },
		{ "TLB flushes", "#8c564b", report_u64, OFF(flushes), true },
	};
	const struct plot_series s = { r->series->v, r->series->n,
				       sizeof(struct sample) };

	report_plot(f, "Memory", "pages", &s, mem, nm);
	report_plot(f, "Guest throughput", "ops/s", &s, thr, 1);
	report_plot(f, "Rates", "per second", &s, rates,
		    sizeof(rates) / sizeof(rates[0]));

	fprintf(f, "<h2>Totals</h2>\n<table>\n");
	for (size_t i = 0; i < nt; i++)
		report_total_row(f, t[i].name, t[i].v, r->seconds);
	for (size_t i = 0; i < NR_HOST_OPS; i++) {
		char name[64];

		snprintf(name, sizeof(name), "host %s", churn_ops[i].name);
		report_total_row(f, name, r->run->host_ops[i], 0);
	}
	report_zswap_rows(f, r->zswap);
	fprintf(f, "</table>\n</body></html>\n");
}

/* Writes @path whole with @body, or says why it could not. */
static int write_file(const char *path, report_body_fn body, const void *ctx)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	body(f, ctx);
	int bad = ferror(f);
	if (fclose(f) || bad)
		return -EIO;
	return 0;
}

int report_files(const struct run_cfg *cfg, int rc, report_body_fn json,
		 report_body_fn html, const void *ctx)
{
	const char *paths[2] = { cfg->json_path, cfg->report_path };
	report_body_fn bodies[2] = { json, html };

	for (int i = 0; i < 2; i++) {
		int r = paths[i] ? write_file(paths[i], bodies[i], ctx) : 0;

		if (!r)
			continue;
		fprintf(stderr, "vmsync run: cannot write %s: %s\n", paths[i],
			strerror(-r));
		if (rc == EXIT_VERIFIED)
			rc = EXIT_ERROR;
	}
	return rc;
}

static void sim_json(FILE *f, const void *ctx)
{
	struct total t[MAX_TOTALS];

	json_body(f, ctx, t, totals(ctx, t));
}

static void sim_html(FILE *f, const void *ctx)
{
	struct total t[MAX_TOTALS];

	html_body(f, ctx, t, totals(ctx, t));
}

int report_run_files(int rc, const struct run_result *res)
{
	return report_files(&res->run->cfg, rc, sim_json, sim_html, res);
}
