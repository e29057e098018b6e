/* plot.c — figures from the database with gnuplot, PNG and PDF: the
 * log-scale nanobenchmark bar chart (cycles per iteration per configuration
 * per workload, after Adams & Agesen 2006), a stacked cost breakdown (cycles
 * by category) per configuration and workload, exits by reason per
 * configuration and workload, and the history of one metric across commits.
 *
 * For each figure NAME the out directory gets NAME.dat (the numbers),
 * NAME.gp (a standalone script: `gnuplot NAME.gp` redraws the PNG,
 * `gnuplot -e 'fmt="pdf"' NAME.gp` the PDF) and the images. Terminals are
 * chosen from what `gnuplot -e 'set terminal'` lists: pngcairo/pdfcairo,
 * else png (libgd) and pdf if present. Strings from the database are
 * reduced to a safe character set before they reach a script.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "an_util.h"
#include "virtlab/analysis.h"
#include "virtlab/counters.h"

struct plot_terms {
	char png[32], pdf[32];     /* terminal names, "" when unavailable */
};

struct plot_ctx {
	struct vl_db *db;
	const struct vl_plot_opts *o;
	const char *outdir;
	const char *gnuplot;       /* NULL: do not run */
	struct plot_terms terms;
	FILE *log;
	int failures;
};

/* Keep [A-Za-z0-9_./+:()-] and spaces; anything else becomes '_' (a name
 * from the database must not be able to say `system(...)` to gnuplot). */
static void plot_safe(const char *s, char *buf, size_t n)
{
	size_t i = 0;
	for (; s && *s && i + 1 < n; s++) {
		unsigned char c = (unsigned char)*s;
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			 strchr("_./+:()- ", c);
		buf[i++] = ok && c ? (char)c : '_';
	}
	buf[i] = '\0';
}

/* Run `gnuplot ARGS...` in dir, output captured into buf. Exit status or -1. */
static int plot_exec(const char *gnuplot, const char *dir, const char *const *args, char *buf, size_t n)
{
	int fd[2];
	if (pipe(fd))
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		close(fd[0]);
		close(fd[1]);
		return -1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		if (null >= 0)
			dup2(null, 0);
		dup2(fd[1], 1);
		dup2(fd[1], 2);
		close(fd[0]);
		close(fd[1]);
		if (dir && chdir(dir))
			_exit(126);
		const char *argv[8] = { gnuplot };
		for (int i = 0; args[i] && i < 6; i++)
			argv[i + 1] = args[i];
		execvp(gnuplot, (char *const *)argv);
		_exit(127);
	}
	close(fd[1]);
	size_t len = 0;
	ssize_t r;
	while ((r = read(fd[0], buf + len, n - 1 - len > 0 ? n - 1 - len : 0)) > 0 || (r < 0 && errno == EINTR))
		if (r > 0)
			len += (size_t)r;
	/* drain anything beyond the buffer */
	char sink[512];
	while (read(fd[0], sink, sizeof sink) > 0)
		;
	close(fd[0]);
	buf[len] = '\0';
	int st;
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int plot_has_term(const char *list, const char *name)
{
	size_t l = strlen(name);
	for (const char *p = list; (p = strstr(p, name)); p += l) {
		int start = p == list || p[-1] == ' ' || p[-1] == '\n' || p[-1] == '\t';
		int end = p[l] == ' ' || p[l] == '\n' || p[l] == '\t' || p[l] == '\0';
		if (start && end)
			return 1;
	}
	return 0;
}

static int plot_detect_terms(const char *gnuplot, struct plot_terms *t, char *err, size_t errlen)
{
	static char out[65536];
	const char *args[] = { "-e", "set terminal", NULL };
	int rc = plot_exec(gnuplot, NULL, args, out, sizeof out);
	memset(t, 0, sizeof *t);
	if (rc == 127 || rc < 0) {
		snprintf(err, errlen, "%s not found (install Debian's gnuplot-nox)", gnuplot);
		return -1;
	}
	if (plot_has_term(out, "pngcairo"))
		snprintf(t->png, sizeof t->png, "pngcairo");
	else if (plot_has_term(out, "png"))
		snprintf(t->png, sizeof t->png, "png");
	if (plot_has_term(out, "pdfcairo"))
		snprintf(t->pdf, sizeof t->pdf, "pdfcairo");
	else if (plot_has_term(out, "pdf"))
		snprintf(t->pdf, sizeof t->pdf, "pdf");
	if (!t->png[0] && !t->pdf[0]) {
		snprintf(err, errlen, "%s offers neither a PNG nor a PDF terminal", gnuplot);
		return -1;
	}
	return 0;
}

static FILE *plot_open(struct plot_ctx *c, const char *name, const char *ext, char *path, size_t n)
{
	snprintf(path, n, "%s/%s.%s", c->outdir, name, ext);
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(c->log, "plot: cannot write %s: %s\n", path, strerror(errno));
		c->failures++;
	}
	return f;
}

/* Script preamble: terminals for both formats, chosen by the variable fmt. */
static void plot_preamble(FILE *f, const struct plot_ctx *c, const char *name, int w, int h, const char *what)
{
	fprintf(f, "# %s.gp — %s\n# written by `virtlab plot` from %s; data in %s.dat\n"
		"# redraw: gnuplot %s.gp   (PNG)   or   gnuplot -e 'fmt=\"pdf\"' %s.gp\n",
		name, what, vl_db_path(c->db), name, name, name);
	fprintf(f, "if (!exists(\"fmt\")) fmt = \"png\"\n");
	const char *png = c->terms.png[0] ? c->terms.png : "pngcairo";
	const char *pdf = c->terms.pdf[0] ? c->terms.pdf : "pdfcairo";
	double win = w / 110.0, hin = h / 110.0;
	int font = c->o->font_pt > 0 ? c->o->font_pt : 8, pngfont = c->o->font_pt > 0 ? (c->o->font_pt * 5 + 2) / 4 : 10;
	if (c->o->width_in > 0) {
		/* a paper's size: the PDF exactly, the PNG the same at 150 dpi */
		hin = c->o->height_in > 0 ? c->o->height_in : c->o->width_in * h / w;
		if (hin < 1.6)
			hin = 1.6;
		win = c->o->width_in;
		w = (int)(win * 150);
		h = (int)(hin * 150);
		pngfont = (font * 150 + 48) / 96;
	}
	if (!strcmp(png, "pngcairo"))
		fprintf(f, "if (fmt eq \"png\") set terminal pngcairo noenhanced size %d,%d font \"sans,%d\"\n", w, h, pngfont);
	else
		fprintf(f, "if (fmt eq \"png\") set terminal png noenhanced size %d,%d\n", w, h);
	fprintf(f, "if (fmt eq \"pdf\") set terminal %s noenhanced size %.2fin,%.2fin font \"sans,%d\"\n", pdf,
		win, hin, font);
	fprintf(f, "set output \"%s.\".fmt\n", name);
	fprintf(f, "set datafile missing \"?\"\n");
	fprintf(f, "set style fill solid 0.85 border rgb \"#404040\"\n");
	fprintf(f, "set grid ytics lc rgb \"#d0d0d0\"\n");
}

/* The legend of a single-panel figure: beside the plot (`wide`), or below
 * it when the figure is sized narrow for a paper column, where a legend at
 * the side would squeeze the plot to nothing. */
static void plot_key(FILE *g, const struct plot_ctx *c, const char *wide, size_t nseries)
{
	if (c->o->width_in > 0 && c->o->width_in < 5)
		fprintf(g, "set key below horizontal maxrows %zu\n", nseries > 4 ? (size_t)2 : (size_t)1);
	else
		fprintf(g, "%s\n", wide);
}

/* Draw NAME.gp in every available format and name each image on the log. */
static void plot_draw(struct plot_ctx *c, const char *name)
{
	if (!c->gnuplot)
		return;
	static const char *const fmts[] = { "png", "pdf" };
	for (int i = 0; i < 2; i++) {
		if (!(i ? c->terms.pdf[0] : c->terms.png[0])) {
			fprintf(c->log, "plot: %s.%s skipped: gnuplot has no %s terminal\n", name, fmts[i], fmts[i]);
			continue;
		}
		char var[32], script[96], out[8192], path[4200];
		snprintf(var, sizeof var, "fmt=\"%s\"", fmts[i]);
		snprintf(script, sizeof script, "%s.gp", name);
		snprintf(path, sizeof path, "%s/%s.%s", c->outdir, name, fmts[i]);
		unlink(path);
		const char *args[] = { "-e", var, script, NULL };
		int rc = plot_exec(c->gnuplot, c->outdir, args, out, sizeof out);
		struct stat st;
		if (rc != 0 || stat(path, &st) || st.st_size == 0) {
			out[strcspn(out, "\n")] = '\0';
			fprintf(c->log, "plot: gnuplot failed on %s/%s (status %d): %s\n", c->outdir, script, rc, out);
			c->failures++;
			continue;
		}
		fprintf(c->log, "%s\n", path);
	}
}

/* Legend entries one cell holds: more are split over further cells, so a
 * figure with many series (every exit, callout and hypercall) keeps its
 * legend inside the grid instead of spilling over the panels. */
#define PLOT_KEY_ROWS 12
static size_t plot_key_cells(size_t nseries)
{
	return nseries ? (nseries + PLOT_KEY_ROWS - 1) / PLOT_KEY_ROWS : 1;
}

/* Grid for n panels plus the legend's cells (plot_key_cells of nseries):
 * one row up to four cells, else 3 or 4 columns, whichever needs fewer
 * rows, then fewer empty cells. */
static void plot_grid(size_t n, size_t nseries, int *rows, int *cols)
{
	size_t cells = n + plot_key_cells(nseries);
	if (cells <= 4) {
		*cols = (int)cells;
		*rows = 1;
		return;
	}
	size_t r3 = (cells + 2) / 3, r4 = (cells + 3) / 4;
	*cols = r4 < r3 || (r4 == r3 && 4 * r4 - cells < 3 * r3 - cells) ? 4 : 3;
	*rows = (int)(*cols == 4 ? r4 : r3);
}

/* Series colours: gnuplot's default eight first, then four more. Past the
 * twelfth a series reuses a colour with a hatch pattern, so no two series of
 * a figure look alike (gnuplot itself repeats its eight colours). */
static const char *const plot_palette[] = {
	"#9400d3", "#009e73", "#56b4e9", "#e69f00", "#f0e442", "#0072b2", "#e51e10", "#000000",
	"#a65628", "#f781bf", "#999999", "#b2df8a",
};
#define PLOT_NPAL (sizeof plot_palette / sizeof plot_palette[0])

/* Style of series i (0-based): its colour; for bars also its fill. */
static void plot_style(FILE *g, size_t i, int bars)
{
	static const int hatch[] = { 4, 5, 1, 6, 7, 2 };
	fprintf(g, " lc rgb \"%s\"", plot_palette[i % PLOT_NPAL]);
	if (bars && i < PLOT_NPAL)
		fprintf(g, " fs solid 0.85 border rgb \"#404040\"");
	else if (bars)
		fprintf(g, " fs pattern %d border rgb \"#404040\"", hatch[(i / PLOT_NPAL - 1) % 6]);
}

/* Stacked-bar panels: rowstacked histograms whose series are columns
 * 2..n+1 of a block and whose column n+2 is the bar's total, printed above
 * each bar (a bar too short to see still shows its value). */
static void plot_stacked_setup(FILE *g, const char *ylabel)
{
	fprintf(g, "set style data histograms\nset style histogram rowstacked\nset boxwidth 0.7\n"
		   "set xtics rotate by -30 nomirror\nset ytics nomirror\nset yrange [0:*]\nset format y \"%%g\"\n"
		   "set ylabel \"%s\"\nset key autotitle columnheader\nunset key\nset offsets 0, 0, graph 0.12, 0\n"
		   "total(v) = v >= 100 ? sprintf(\"%%.0f\", v) : sprintf(\"%%.3g\", v)\n", ylabel);
}

static void plot_stacked_panel(FILE *g, const char *file, size_t block, size_t n)
{
	fprintf(g, "plot");
	for (size_t i = 0; i < n; i++) {
		fprintf(g, "%s '%s' index %zu using %zu%s title columnheader(%zu)", i ? ", \\\n    " : "", file, block,
			i + 2, i ? "" : ":xtic(1)", i + 2);
		plot_style(g, i, 1);
	}
	fprintf(g, ", \\\n    '%s' index %zu using 0:%zu:(total(column(%zu))) with labels font \",8\" offset 0,0.6 notitle\n",
		file, block, n + 2, n + 2);
}

/* The legend of stacked panels, in cells of its own (PLOT_KEY_ROWS
 * entries each); top to bottom in the order of the stack, which is the
 * series in reverse. */
static void plot_stacked_legend(FILE *g, const char *file, size_t n)
{
	fprintf(g, "unset title\nunset xtics\nunset ytics\nunset ylabel\nunset border\nunset grid\n"
		   "set yrange [0:1]\nset xrange [0:1]\nset key center center vertical box\n");
	size_t cells = plot_key_cells(n);
	for (size_t k = 0; k < cells; k++) {
		fprintf(g, "plot");
		size_t first = 1;
		for (size_t j = k * PLOT_KEY_ROWS; j < (k + 1) * PLOT_KEY_ROWS && j < n; j++) {
			size_t i = n - 1 - j;
			fprintf(g, "%s '%s' index 0 using (NaN):%zu with boxes title columnheader(%zu)", first ? "" : ", \\\n    ",
				file, i + 2, i + 2);
			plot_style(g, i, 1);
			first = 0;
		}
		if (first)
			fprintf(g, " NaN notitle");
		fputc('\n', g);
	}
	fprintf(g, "unset multiplot\n");
}

/* ---- nanobenchmark figure ---- */

static void plot_nanobench(struct plot_ctx *c, const struct vl_rep_table *t)
{
	char path[4200], s[96];
	FILE *d = plot_open(c, "nanobench", "dat", path, sizeof path);
	if (!d)
		return;
	fprintf(d, "# cycles per iteration; profile %s; commits %s; ? = no ok run\n\"workload\"", t->profile, t->commits);
	for (size_t k = 0; k < t->nconf; k++) {
		plot_safe(t->conf[k].name, s, sizeof s);
		fprintf(d, " \"%s%s\"", s, t->conf[k].model ? "" : " (measured)");
	}
	fputc('\n', d);
	for (size_t w = 0; w < t->nwork; w++) {
		plot_safe(t->work[w], s, sizeof s);
		fprintf(d, "\"%s\"", s);
		for (size_t k = 0; k < t->nconf; k++) {
			double v = t->cell[w * t->nconf + k].cycles;
			if (isfinite(v) && v > 0)
				fprintf(d, " %.17g", v);
			else
				fprintf(d, " ?");
		}
		fputc('\n', d);
	}
	fclose(d);
	FILE *g = plot_open(c, "nanobench", "gp", path, sizeof path);
	if (!g)
		return;
	int width = 300 + (int)(t->nwork * (t->nconf * 22 + 30));
	if (width < 900) width = 900;
	if (width > 2400) width = 2400;
	plot_preamble(g, c, "nanobench", width, 620, "cycles per iteration, one bar per configuration, log scale");
	plot_safe(t->profile, s, sizeof s);
	int measured = 0;
	for (size_t k = 0; k < t->nconf; k++)
		measured |= !t->conf[k].model;
	/* which bars are the model and which were measured on the host */
	if (c->o->width_in > 0 && c->o->width_in < 5)   /* a paper column: titles that fit */
		fprintf(g, "set title \"Cycles per iteration, %s (%s)\"\nset ylabel \"cycles/iteration (log)\"\n", s,
			measured ? "model; measured: host TSC" : "modelled");
	else
		fprintf(g, "set title \"Cycles per iteration by configuration (profile %s%s)\"\n"
			   "set ylabel \"cycles per iteration (log scale)\"\n", s,
			measured ? "; modelled, except bars marked measured: host TSC cycles" : ", modelled");
	fprintf(g, "set logscale y\nset format y \"%%.0s%%c\"\n"
		   "set style data histograms\nset style histogram clustered gap 1\nset boxwidth 0.9\n"
		   "set xtics nomirror\nset ytics nomirror\n"
		   "set yrange [*:*]\n");
	plot_key(g, c, "set key outside right top vertical", t->nconf);
	fprintf(g, "plot");
	for (size_t k = 0; k < t->nconf; k++) {
		fprintf(g, "%s 'nanobench.dat' using %zu%s title columnheader(%zu)", k ? ", \\\n    " : "", k + 2,
			k ? "" : ":xtic(1)", k + 2);
		plot_style(g, k, 1);
	}
	fputc('\n', g);
	fclose(g);
	plot_draw(c, "nanobench");
}

/* ---- stacked cost breakdown ---- */

#define PLOT_MAX_CATS 16
_Static_assert(VL_CAT_COUNT <= PLOT_MAX_CATS, "room for every cost category");

static int plot_metric_value(const struct vl_db_metric *m, size_t n, const char *kind, const char *name, double *v)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(m[i].kind, kind) && !strcmp(m[i].name, name)) {
			*v = m[i].value;
			return 1;
		}
	return 0;
}

static int plot_breakdown(struct plot_ctx *c, const struct vl_rep_table *t, char *err, size_t errlen)
{
	/* per (workload, model config) the cycles of each category per iteration */
	size_t nc = t->nconf, nw = t->nwork;
	/* categories: this build's order first, then any other name the database
	 * holds (a run stored by another build), so a stack always sums to the total */
	char cats[PLOT_MAX_CATS][48];
	int ncats = 0;
	for (int k = 0; k < VL_CAT_COUNT; k++)
		snprintf(cats[ncats++], sizeof cats[0], "%s", vl_cat_name[k]);
	double *val = calloc(nw * nc * PLOT_MAX_CATS + 1, sizeof *val);
	int *have = calloc(nw * nc + 1, sizeof *have);
	int used_cat[PLOT_MAX_CATS] = { 0 };
	if (!val || !have) {
		free(val);
		free(have);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	size_t ncells = 0;
	for (size_t w = 0; w < nw; w++)
		for (size_t k = 0; k < nc; k++) {
			const struct vl_rep_cell *cell = &t->cell[w * nc + k];
			if (!t->conf[k].model || !cell->present || strcmp(cell->status, "ok"))
				continue;
			struct vl_db_metric *m = NULL;
			struct vl_db_run *run = NULL;
			size_t nm = 0, nr = 0;
			struct vl_db_filter f = { .ids = &cell->run_id, .nids = 1 };
			if (vl_db_query_metrics(c->db, cell->run_id, &m, &nm, err, errlen) ||
			    vl_db_query_runs(c->db, &f, &run, &nr, err, errlen) || nr != 1) {
				free(m);
				free(run);
				free(val);
				free(have);
				return -1;
			}
			double iters = run->iterations ? (double)run->iterations : 1;
			for (size_t i = 0; i < nm; i++) {
				if (strcmp(m[i].kind, "cycles"))
					continue;
				int cat = 0;
				while (cat < ncats && strcmp(cats[cat], m[i].name))
					cat++;
				if (cat == ncats) {
					if (ncats == PLOT_MAX_CATS)
						continue;
					snprintf(cats[ncats++], sizeof cats[0], "%s", m[i].name);
				}
				val[(w * nc + k) * PLOT_MAX_CATS + cat] = m[i].value / iters;
				used_cat[cat] |= m[i].value > 0;
			}
			have[w * nc + k] = 1;
			ncells++;
			free(m);
			free(run);
		}
	if (!ncells) {
		fprintf(c->log, "plot: breakdown skipped: no ok model runs in the selection\n");
		free(val);
		free(have);
		return 0;
	}
	char path[4200], s[96];
	FILE *d = plot_open(c, "breakdown", "dat", path, sizeof path);
	if (!d)
		goto out;
	fprintf(d, "# cycles per iteration by cost category; one block (index) per workload; last column: the total; "
		"profile %s\n", t->profile);
	size_t block = 0;
	size_t *blockwork = calloc(nw + 1, sizeof *blockwork);
	size_t *blockrows = calloc(nw + 1, sizeof *blockrows);
	for (size_t w = 0; w < nw; w++) {
		int any = 0;
		for (size_t k = 0; k < nc; k++)
			any |= have[w * nc + k];
		if (!any)
			continue;
		if (block)
			fprintf(d, "\n\n");
		plot_safe(t->work[w], s, sizeof s);
		fprintf(d, "# %s\n\"config\"", s);
		for (int cat = 0; cat < ncats; cat++)
			if (used_cat[cat]) {
				plot_safe(cats[cat], s, sizeof s);
				fprintf(d, " \"%s\"", s);
			}
		fprintf(d, " \"total\"\n");
		for (size_t k = 0; k < nc; k++) {
			if (!have[w * nc + k])
				continue;
			plot_safe(t->conf[k].name, s, sizeof s);
			fprintf(d, "\"%s\"", s);
			double sum = 0;
			for (int cat = 0; cat < ncats; cat++)
				if (used_cat[cat]) {
					fprintf(d, " %.17g", val[(w * nc + k) * PLOT_MAX_CATS + cat]);
					sum += val[(w * nc + k) * PLOT_MAX_CATS + cat];
				}
			fprintf(d, " %.17g\n", sum);
		}
		if (blockwork && blockrows) {
			blockwork[block] = w;
			for (size_t k = 0; k < nc; k++)
				blockrows[block] += have[w * nc + k] != 0;
		}
		block++;
	}
	fclose(d);
	int ncat = 0;
	for (int cat = 0; cat < ncats; cat++)
		ncat += used_cat[cat];
	int rows, cols;
	plot_grid(block, (size_t)ncat, &rows, &cols);
	FILE *g = plot_open(c, "breakdown", "gp", path, sizeof path);
	if (!g) {
		free(blockwork);
		free(blockrows);
		goto out;
	}
	plot_preamble(g, c, "breakdown", 380 * cols, 320 * rows + 40,
		      "where the cycles go: stacked cost categories per configuration, one panel per workload");
	plot_safe(t->profile, s, sizeof s);
	plot_stacked_setup(g, "cycles per iteration");
	fprintf(g, "set multiplot layout %d,%d title \"Cycles per iteration by cost category (profile %s)\"\n", rows, cols, s);
	for (size_t b = 0; b < block; b++) {
		plot_safe(blockwork ? t->work[blockwork[b]] : "", s, sizeof s);
		fprintf(g, "set title \"%s\"\nset xrange [-0.6:%zu.6]\n", s, blockrows ? blockrows[b] - 1 : 0);
		plot_stacked_panel(g, "breakdown.dat", b, (size_t)ncat);
	}
	plot_stacked_legend(g, "breakdown.dat", (size_t)ncat);
	fclose(g);
	free(blockwork);
	free(blockrows);
	plot_draw(c, "breakdown");
out:
	free(val);
	free(have);
	return 0;
}

/* ---- exits by reason ---- */

#define PLOT_MAX_REASONS 48
#define PLOT_EXITS_MIN 0.01   /* exits per iteration below which a workload gets no panel */

/* One panel per workload, one bar per configuration that has exits (so
 * configurations are compared on one scale, as in the breakdown), stacked
 * by every exit reason seen in the figure (one reason keeps one colour and
 * one legend serves all panels), most frequent at the bottom. A workload
 * with fewer than PLOT_EXITS_MIN exits per iteration in every configuration
 * (timer interrupts, a stray page fault) gets no panel — its axis would
 * blow noise up to full height — and is named in the title instead. */
static int plot_exits(struct plot_ctx *c, const struct vl_rep_table *t, char *err, size_t errlen)
{
	size_t nc = t->nconf, nw = t->nwork;
	char reasons[PLOT_MAX_REASONS][64];
	double total[PLOT_MAX_REASONS] = { 0 };
	size_t nr = 0;
	double *per = calloc(nc * nw * PLOT_MAX_REASONS + 1, sizeof *per);
	int *row_ok = calloc(nc * nw + 1, sizeof *row_ok);
	int *conf_has = calloc(nc + 1, sizeof *conf_has);
	size_t *shown = calloc(nw + 1, sizeof *shown);     /* workload of each panel */
	size_t *bars = calloc(nw + 1, sizeof *bars);       /* bars in each panel */
	int rc = -1;
	if (!per || !row_ok || !conf_has || !shown || !bars) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (size_t k = 0; k < nc; k++) {
		if (!t->conf[k].model)
			continue;
		for (size_t w = 0; w < nw; w++) {
			const struct vl_rep_cell *cell = &t->cell[w * nc + k];
			if (!cell->present || strcmp(cell->status, "ok"))
				continue;
			struct vl_db_metric *m = NULL;
			struct vl_db_run *run = NULL;
			size_t nm = 0, nrun = 0;
			struct vl_db_filter f = { .ids = &cell->run_id, .nids = 1 };
			if (vl_db_query_metrics(c->db, cell->run_id, &m, &nm, err, errlen) ||
			    vl_db_query_runs(c->db, &f, &run, &nrun, err, errlen) || nrun != 1) {
				free(m);
				free(run);
				goto out;
			}
			row_ok[k * nw + w] = 1;
			for (size_t i = 0; i < nm; i++) {
				/* every VMM entry: exits by their vendor name, bt's
				 * callouts and pv's hypercalls named as such */
				int ek = an_entry_kind_of(m[i].kind);
				if (ek < 0 || m[i].value <= 0)
					continue;
				char label[64];
				snprintf(label, sizeof label, "%s%s", an_entry_kinds[ek].label, m[i].name);
				size_t r = 0;
				while (r < nr && strcmp(reasons[r], label))
					r++;
				if (r == nr) {
					if (nr == PLOT_MAX_REASONS)
						continue;
					snprintf(reasons[nr++], sizeof reasons[0], "%s", label);
				}
				double v = m[i].value / (run->iterations ? (double)run->iterations : 1);
				per[(k * nw + w) * PLOT_MAX_REASONS + r] = v;
				total[r] += v;
				conf_has[k] = 1;
			}
			free(m);
			free(run);
		}
	}
	if (!nr) {
		fprintf(c->log, "plot: exits skipped: no configuration in the selection has VM exits, callouts or hypercalls\n");
		rc = 0;
		goto out;
	}
	/* the workloads that get a panel */
	size_t nshown = 0;
	for (size_t w = 0; w < nw; w++) {
		double most = 0;
		for (size_t k = 0; k < nc; k++) {
			double sum = 0;
			for (size_t r = 0; r < nr; r++)
				sum += per[(k * nw + w) * PLOT_MAX_REASONS + r];
			if (conf_has[k] && sum > most)
				most = sum;
		}
		if (most >= PLOT_EXITS_MIN)
			shown[nshown++] = w;
	}
	if (!nshown) {
		fprintf(c->log, "plot: exits skipped: fewer than %g VM exits per iteration in every workload\n",
			PLOT_EXITS_MIN);
		rc = 0;
		goto out;
	}
	size_t order[PLOT_MAX_REASONS];
	for (size_t r = 0; r < nr; r++)
		order[r] = r;
	for (size_t i = 1; i < nr; i++)   /* most exits first; ties by name */
		for (size_t j = i; j > 0 && (total[order[j]] > total[order[j - 1]] ||
					     (total[order[j]] == total[order[j - 1]] &&
					      strcmp(reasons[order[j]], reasons[order[j - 1]]) < 0)); j--) {
			size_t x = order[j];
			order[j] = order[j - 1];
			order[j - 1] = x;
		}
	/* the workloads without a panel (those with runs of a configuration that exits) */
	char omitted[1024] = "";
	size_t olen = 0;
	for (size_t w = 0, i = 0; w < nw; w++) {
		if (i < nshown && shown[i] == w) {
			i++;
			continue;
		}
		int ran = 0;
		for (size_t k = 0; k < nc; k++)
			ran |= conf_has[k] && row_ok[k * nw + w];
		if (!ran)
			continue;
		char s[96];
		plot_safe(t->work[w], s, sizeof s);
		int n = snprintf(omitted + olen, sizeof omitted - olen, "%s%s", olen ? ", " : "", s);
		if (n < 0 || (size_t)n >= sizeof omitted - olen) {
			omitted[olen] = '\0';
			break;
		}
		olen += (size_t)n;
	}
	char path[4200], s[96];
	FILE *d = plot_open(c, "exits", "dat", path, sizeof path);
	if (!d) {
		rc = 0;
		goto out;
	}
	fprintf(d, "# VMM entries per iteration: VM exits by vendor exit reason, bt callouts (\"callout NAME\"), pv "
		"hypercalls (\"hypercall NAME\"); one block (index) per workload; last column: the total; profile %s\n",
		t->profile);
	if (olen)
		fprintf(d, "# no panel (under %g exits per iteration in every configuration): %s\n", PLOT_EXITS_MIN, omitted);
	for (size_t b = 0; b < nshown; b++) {
		size_t w = shown[b];
		if (b)
			fprintf(d, "\n\n");
		plot_safe(t->work[w], s, sizeof s);
		fprintf(d, "# %s\n\"config\"", s);
		for (size_t r = 0; r < nr; r++) {
			plot_safe(reasons[order[r]], s, sizeof s);
			fprintf(d, " \"%s\"", s);
		}
		fprintf(d, " \"total\"\n");
		for (size_t k = 0; k < nc; k++) {
			if (!conf_has[k] || !row_ok[k * nw + w])
				continue;
			plot_safe(t->conf[k].name, s, sizeof s);
			fprintf(d, "\"%s\"", s);
			double sum = 0;
			for (size_t r = 0; r < nr; r++) {
				double v = per[(k * nw + w) * PLOT_MAX_REASONS + order[r]];
				fprintf(d, " %.17g", v);
				sum += v;
			}
			fprintf(d, " %.17g\n", sum);
			bars[b]++;
		}
	}
	fclose(d);
	int grows, gcols;
	plot_grid(nshown, nr, &grows, &gcols);
	FILE *g = plot_open(c, "exits", "gp", path, sizeof path);
	if (g) {
		plot_preamble(g, c, "exits", 380 * gcols, 320 * grows + (olen ? 60 : 40),
			      "VMM entries per iteration (exits, callouts, hypercalls), one panel per workload");
		plot_stacked_setup(g, "entries per iteration");
		plot_safe(t->profile, s, sizeof s);
		fprintf(g, "set multiplot layout %d,%d title \"VMM entries per iteration: exits, callouts, hypercalls (profile %s)",
			grows, gcols, s);
		if (olen)
			fprintf(g, "\\nno panel, under %g exits per iteration: %s", PLOT_EXITS_MIN, omitted);
		fprintf(g, "\"\n");
		for (size_t b = 0; b < nshown; b++) {
			plot_safe(t->work[shown[b]], s, sizeof s);
			fprintf(g, "set title \"%s\"\nset xrange [-0.6:%zu.6]\n", s, bars[b] ? bars[b] - 1 : 0);
			plot_stacked_panel(g, "exits.dat", b, nr);
		}
		plot_stacked_legend(g, "exits.dat", nr);
		fclose(g);
		plot_draw(c, "exits");
	}
	rc = 0;
out:
	free(per);
	free(row_ok);
	free(conf_has);
	free(shown);
	free(bars);
	return rc;
}

/* ---- history of a metric across commits ---- */

/* The metric of run m[] as the history plots it: cycles_per_iter as
 * stored; counts and cycles per iteration. */
static int plot_history_value(const char *metric, const struct vl_db_metric *m, size_t n, uint64_t iters, double *v)
{
	double x = 0;
	double it = iters ? (double)iters : 1;
	if (!strcmp(metric, "cycles_per_iter"))
		return plot_metric_value(m, n, "cycles_per_iter", "cycles_per_iter", v);
	if (!strncmp(metric, "cycles:", 7)) {
		if (!plot_metric_value(m, n, "cycles", metric + 7, &x))
			return 0;
		*v = x / it;
		return 1;
	}
	if (!strncmp(metric, "exit:", 5)) {
		*v = plot_metric_value(m, n, "exit_count", metric + 5, &x) ? x / it : 0;
		return 1;
	}
	if (!strncmp(metric, "callout:", 8)) {
		*v = plot_metric_value(m, n, "callout_count", metric + 8, &x) ? x / it : 0;
		return 1;
	}
	if (!strncmp(metric, "hypercall:", 10)) {
		*v = plot_metric_value(m, n, "hypercall_count", metric + 10, &x) ? x / it : 0;
		return 1;
	}
	if (plot_metric_value(m, n, "event", metric, &x) || plot_metric_value(m, n, "cycles", metric, &x)) {
		*v = x / it;
		return 1;
	}
	return 0;
}

struct plot_commit { char key[64]; char label[24]; double first; };   /* key: full hash (+ dirty) */

static int plot_commit_cmp(const void *a, const void *b)
{
	const struct plot_commit *x = a, *y = b;
	return x->first < y->first ? -1 : x->first > y->first;
}

static int plot_history(struct plot_ctx *c, const struct vl_rep_table *t, char *err, size_t errlen)
{
	const struct vl_plot_opts *o = c->o;
	const char *metric = o->metric ? o->metric : "cycles_per_iter";
	const char *workload = o->workload;
	if (!workload) {
		if (!t->nwork) {
			fprintf(c->log, "plot: history skipped: no runs in the selection\n");
			return 0;
		}
		workload = t->work[0];
	}
	struct vl_db_filter f = {
		.profile = t->profile, .tag = o->sel.tag, .params = o->sel.params ? o->sel.params : "",
		.workload = workload, .ok_only = 1,
	};
	struct vl_db_run *runs = NULL;
	size_t n = 0;
	if (vl_db_query_runs(c->db, &f, &runs, &n, err, errlen))
		return -1;
	/* configurations (columns) and commits (rows) */
	struct vl_rep_config *conf = calloc(n + 1, sizeof *conf);
	struct plot_commit *com = calloc(n + 1, sizeof *com);
	double *val = NULL;
	size_t nconf = 0, ncom = 0;
	int rc = -1;
	if (!conf || !com) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		char name[72], key[64];
		vl_an_config_name(runs[i].engine, runs[i].mmu, name, sizeof name);
		if (o->config && strcmp(o->config, name))
			continue;
		size_t k = 0;
		while (k < nconf && strcmp(conf[k].name, name))
			k++;
		if (k == nconf) {
			snprintf(conf[k].name, sizeof conf[k].name, "%s", name);
			snprintf(conf[k].engine, sizeof conf[k].engine, "%s", runs[i].engine);
			snprintf(conf[k].mmu, sizeof conf[k].mmu, "%s", runs[i].mmu);
			nconf++;
		}
		snprintf(key, sizeof key, "%.48s%s", runs[i].git_commit, runs[i].git_dirty ? "+" : "");
		size_t j = 0;
		while (j < ncom && strcmp(com[j].key, key))
			j++;
		if (j == ncom) {
			snprintf(com[j].key, sizeof com[j].key, "%s", key);
			snprintf(com[j].label, sizeof com[j].label, "%.10s%s", runs[i].git_commit, runs[i].git_dirty ? "+" : "");
			com[j].first = runs[i].started;
			ncom++;
		} else if (runs[i].started < com[j].first) {
			com[j].first = runs[i].started;
		}
	}
	if (!nconf) {
		fprintf(c->log, "plot: history skipped: no ok runs of %s%s%s in profile %s\n", workload,
			o->config ? " on " : "", o->config ? o->config : "", t->profile);
		rc = 0;
		goto out;
	}
	if (ncom < 2) {
		/* a history of one point is no history: say so, draw nothing */
		fprintf(c->log, "plot: history skipped: only one commit (%s) measured; it needs runs of two or more\n",
			com[0].label);
		rc = 0;
		goto out;
	}
	qsort(com, ncom, sizeof *com, plot_commit_cmp);
	if (!(val = malloc(ncom * nconf * sizeof *val))) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < ncom * nconf; i++)
		val[i] = NAN;
	int found = 0;
	for (size_t i = 0; i < n; i++) {   /* id order: a newer run of a commit overwrites an older one */
		char name[72], key[64];
		vl_an_config_name(runs[i].engine, runs[i].mmu, name, sizeof name);
		size_t k = 0;
		while (k < nconf && strcmp(conf[k].name, name))
			k++;
		if (k == nconf)
			continue;
		snprintf(key, sizeof key, "%.48s%s", runs[i].git_commit, runs[i].git_dirty ? "+" : "");
		size_t j = 0;
		while (j < ncom && strcmp(com[j].key, key))
			j++;
		struct vl_db_metric *m = NULL;
		size_t nm = 0;
		if (vl_db_query_metrics(c->db, runs[i].id, &m, &nm, err, errlen))
			goto out;
		double v;
		if (plot_history_value(metric, m, nm, runs[i].iterations, &v)) {
			val[j * nconf + k] = v;
			found = 1;
		}
		free(m);
	}
	if (!found) {
		fprintf(c->log, "plot: history skipped: no run of %s has metric '%s' (try cycles_per_iter, an event name, "
			"cycles:CATEGORY or exit:NAME)\n", workload, metric);
		c->failures++;
		rc = 0;
		goto out;
	}
	char path[4200], s[96], sm[96], sw[96];
	FILE *d = plot_open(c, "history", "dat", path, sizeof path);
	if (!d) {
		rc = 0;
		goto out;
	}
	plot_safe(metric, sm, sizeof sm);
	plot_safe(workload, sw, sizeof sw);
	fprintf(d, "# %s of workload %s across commits (in the order first measured; + = dirty tree); profile %s\n"
		"# columns: index, tic label (every %zu-th commit), commit, one per configuration\n\"n\" \"tic\" \"commit\"",
		sm, sw, t->profile, (ncom + 24) / 25);
	for (size_t k = 0; k < nconf; k++) {
		plot_safe(conf[k].name, s, sizeof s);
		fprintf(d, " \"%s\"", s);
	}
	fputc('\n', d);
	for (size_t j = 0; j < ncom; j++) {
		/* at most ~25 labelled tics, the newest always labelled */
		size_t every = (ncom + 24) / 25;
		plot_safe(com[j].label, s, sizeof s);
		fprintf(d, "%zu \"%s\" \"%s\"", j, (ncom - 1 - j) % every == 0 ? s : "", s);
		for (size_t k = 0; k < nconf; k++) {
			if (isfinite(val[j * nconf + k]))
				fprintf(d, " %.17g", val[j * nconf + k]);
			else
				fprintf(d, " ?");
		}
		fputc('\n', d);
	}
	fclose(d);
	FILE *g = plot_open(c, "history", "gp", path, sizeof path);
	if (g) {
		plot_preamble(g, c, "history", 1000, 560, "one metric of one workload across commits");
		plot_safe(t->profile, s, sizeof s);
		fprintf(g, "set title \"%s of %s across commits (profile %s)\"\n", sm, sw, s);
		fprintf(g, "set ylabel \"%s%s\"\nset xlabel \"commit, in the order first measured (+ = dirty working tree)\"\n", sm,
			strcmp(metric, "cycles_per_iter") ? " per iteration" : "");
		fprintf(g, "set xtics rotate by -30 nomirror\nset ytics nomirror\n"
			   "set xrange [-0.5:%zu.5]\nset yrange [0:*]\nset offsets 0, 0, graph 0.05, 0\n", ncom - 1);
		plot_key(g, c, "set key outside right top", nconf);
		/* open points, a shape per configuration, each smaller than the one
		 * before: equal values (common — many configurations cost the same)
		 * nest instead of hiding each other */
		static const int pt[] = { 6, 4, 8, 12, 10, 14 };
		fprintf(g, "plot");
		for (size_t k = 0; k < nconf; k++) {
			double ps = (ncom > 40 ? 0.5 : 1.0) + (ncom > 40 ? 0.25 : 0.5) * (double)((nconf - 1 - k) % 6);
			fprintf(g, "%s 'history.dat' using 1:%zu:xtic(2) with linespoints lw 2 pt %d ps %.2f", k ? ", \\\n    " : "",
				k + 4, pt[k % 6], ps);
			plot_style(g, k, 0);
			fprintf(g, " title columnheader(%zu)", k + 4);
		}
		fputc('\n', g);
		fclose(g);
		plot_draw(c, "history");
	}
	rc = 0;
out:
	free(runs);
	free(conf);
	free(com);
	free(val);
	return rc;
}

int vl_plot(struct vl_db *db, const struct vl_plot_opts *o, FILE *log, char *err, size_t errlen)
{
	struct plot_ctx c = { .db = db, .o = o, .outdir = o->outdir ? o->outdir : "results/plots", .log = log };
	unsigned figs = o->figures ? o->figures : VL_PLOT_ALL;
	c.gnuplot = o->gnuplot ? (o->gnuplot[0] ? o->gnuplot : NULL) : "gnuplot";
	if (c.gnuplot && plot_detect_terms(c.gnuplot, &c.terms, err, errlen)) {
		/* keep going: data and scripts are still worth writing */
		fprintf(log, "plot: %s; writing data and scripts only\n", err);
		c.gnuplot = NULL;
		c.failures++;
	}
	struct vl_rep_table t;
	if (vl_rep_build(db, &o->sel, &t, err, errlen))
		return -1;
	if (!t.nruns) {
		snprintf(err, errlen, "no runs selected for profile %s (try `virtlab matrix`, or another --profile/--tag/--commit)",
			 t.profile);
		vl_rep_free(&t);
		return -1;
	}
	char dirbuf[4096];
	snprintf(dirbuf, sizeof dirbuf, "%s", c.outdir);
	for (char *p = dirbuf + 1; ; p++) {   /* mkdir -p, once there is something to draw */
		char ch = *p;
		if (ch != '/' && ch != '\0')
			continue;
		*p = '\0';
		if (mkdir(dirbuf, 0777) && errno != EEXIST) {
			snprintf(err, errlen, "cannot create %s: %s", dirbuf, strerror(errno));
			vl_rep_free(&t);
			return -1;
		}
		*p = ch;
		if (!ch)
			break;
	}
	int rc = 0;
	if (figs & VL_PLOT_NANOBENCH)
		plot_nanobench(&c, &t);
	if ((figs & VL_PLOT_BREAKDOWN) && plot_breakdown(&c, &t, err, errlen))
		rc = -1;
	if (!rc && (figs & VL_PLOT_EXITS) && plot_exits(&c, &t, err, errlen))
		rc = -1;
	if (!rc && (figs & VL_PLOT_HISTORY) && plot_history(&c, &t, err, errlen))
		rc = -1;
	vl_rep_free(&t);
	return rc ? -1 : c.failures ? 1 : 0;
}
