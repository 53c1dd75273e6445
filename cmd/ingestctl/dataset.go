package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/s3ingest/s3ingest/ident"
	"github.com/s3ingest/s3ingest/internal/redact"
	"github.com/s3ingest/s3ingest/worker/sink"
)

// Where the dataset commands find the sink (the same setting as ingestd's).
const (
	envSink        = "S3INGEST_SINK"
	defaultSinkURL = "file://./data"
)

// defaultRejectsLimit is how many rejected rows `dataset rejects` shows
// unless --limit says otherwise.
const defaultRejectsLimit = 100

// openSinkCatalog opens the sink named by raw for reading its catalog. A
// file sink's directory must exist already: reading never creates one
// (sink.Open would), so a mistyped path is reported, not made.
func openSinkCatalog(ctx context.Context, raw string) (sink.Catalog, io.Closer, error) {
	if dir, ok := fileSinkDir(raw); ok {
		st, err := os.Stat(dir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, nil, fmt.Errorf("directory %s does not exist (no dataset was ever written there)", dir)
		case err != nil:
			return nil, nil, err
		case !st.IsDir():
			return nil, nil, fmt.Errorf("%s is not a directory", dir)
		}
	}
	s, err := sink.Open(ctx, raw)
	if err != nil {
		return nil, nil, err
	}
	return s, s, nil
}

// fileSinkDir returns the directory of a file:// sink URL as sink.Open
// reads it (false for other URLs or ones Open rejects).
func fileSinkDir(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "file" {
		return "", false
	}
	dir := u.Path
	switch {
	case u.Opaque != "":
		dir = u.Opaque
	case u.Host == "." || u.Host == "..":
		dir = u.Host + u.Path
	case u.Host != "" && u.Host != "localhost":
		return "", false
	}
	if dir == "" {
		return "", false
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", false
	}
	return abs, true
}

// redactedError carries an error whose message had a connection string's
// passwords removed; errors.Is and errors.As still see the original.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// catalogSession is an open sink catalog and how to name the sink in
// messages (password removed).
type catalogSession struct {
	cat    sink.Catalog
	closer io.Closer
	raw    string
	// where names the setting the sink came from and its value, e.g.
	// "--sink postgres://u:xxxxx@h/db".
	where string
}

// wrap returns err with the sink named and its passwords removed.
func (s *catalogSession) wrap(err error) error {
	return &redactedError{msg: "sink " + s.where + ": " + redact.Error(s.raw, err), err: err}
}

func (s *catalogSession) close() {
	if s.closer != nil {
		s.closer.Close()
	}
}

// catalog opens the sink named by --sink, else S3INGEST_SINK, else the
// default ingestd uses.
func (a *app) catalog(ctx context.Context) (*catalogSession, error) {
	s := &catalogSession{raw: a.sinkURL}
	switch {
	case s.raw != "":
		s.where = "--sink " + redact.DSN(s.raw)
	case os.Getenv(envSink) != "":
		s.raw = os.Getenv(envSink)
		s.where = envSink + " " + redact.DSN(s.raw)
	default:
		s.raw = defaultSinkURL
		s.where = defaultSinkURL + " (the default; set --sink or " + envSink + ")"
	}
	open := a.openCatalog
	if open == nil {
		open = openSinkCatalog
	}
	cat, closer, err := open(ctx, s.raw)
	if err != nil {
		return nil, s.wrap(err)
	}
	s.cat, s.closer = cat, closer
	return s, nil
}

// datasetFlags are --workspace and --dataset of the dataset commands.
type datasetFlags struct {
	workspace, dataset string
}

func (f *datasetFlags) register(cmd *cobra.Command, withDataset bool) {
	cmd.Flags().StringVar(&f.workspace, "workspace", "", "workspace ID (required)")
	if withDataset {
		cmd.Flags().StringVar(&f.dataset, "dataset", "", "dataset name (required)")
	}
}

// flagIdentErr names the flag in an identifier's validation error.
func flagIdentErr(flag string, err error) error {
	var ie *ident.Error
	if errors.As(err, &ie) {
		return fmt.Errorf("--%s: %s", flag, ie.Detail())
	}
	if err != nil {
		return fmt.Errorf("--%s: %w", flag, err)
	}
	return nil
}

func (f *datasetFlags) checkWorkspace() error {
	return flagIdentErr("workspace", ident.Workspace(f.workspace))
}

func (f *datasetFlags) ds() (sink.Dataset, error) {
	if err := f.checkWorkspace(); err != nil {
		return sink.Dataset{}, err
	}
	if err := flagIdentErr("dataset", ident.Dataset(f.dataset)); err != nil {
		return sink.Dataset{}, err
	}
	return sink.Dataset{Workspace: f.workspace, Name: f.dataset}, nil
}

// withDataset validates the flags, opens the catalog, and runs fn; a
// missing dataset is reported with its name and the sink.
func (a *app) withDataset(cmd *cobra.Command, f *datasetFlags, fn func(context.Context, sink.Catalog, sink.Dataset) error) error {
	ds, err := f.ds()
	if err != nil {
		return err
	}
	s, err := a.catalog(cmd.Context())
	if err != nil {
		return err
	}
	defer s.close()
	if err := fn(cmd.Context(), s.cat, ds); err != nil {
		if errors.Is(err, sink.ErrDatasetNotFound) {
			return &redactedError{msg: fmt.Sprintf("dataset %q not found in workspace %q (sink %s)", ds.Name, ds.Workspace, s.where), err: err}
		}
		return s.wrap(err)
	}
	return nil
}

func newDatasetCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dataset",
		Short: "read datasets' records: schema, settings, schema history, rejected rows",
		Long: `Read the datasets' records from the sink ingestd writes to (--sink, else
S3INGEST_SINK, else ` + defaultSinkURL + `, as ingestd).`,
	}
	cmd.PersistentFlags().StringVar(&a.sinkURL, "sink", "", "dataset sink URL, file:///dir or postgres://... (default $"+envSink+", else "+defaultSinkURL+")")

	var lf datasetFlags
	list := &cobra.Command{
		Use:     "list",
		Short:   "list a workspace's datasets",
		Example: `  ingestctl dataset list --workspace ws1 --sink file:///var/lib/s3ingest`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := lf.checkWorkspace(); err != nil {
				return err
			}
			s, err := a.catalog(cmd.Context())
			if err != nil {
				return err
			}
			defer s.close()
			all, err := s.cat.Datasets(cmd.Context(), lf.workspace)
			if err != nil {
				return s.wrap(err)
			}
			if all == nil {
				all = []sink.DatasetInfo{}
			}
			return a.printDatasets(all)
		},
	}
	lf.register(list, false)

	var sf datasetFlags
	show := &cobra.Command{
		Use:     "show",
		Short:   "show a dataset's columns, settings and counts",
		Example: `  ingestctl dataset show --workspace ws1 --dataset orders`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withDataset(cmd, &sf, func(ctx context.Context, cat sink.Catalog, ds sink.Dataset) error {
				info, err := cat.Dataset(ctx, ds)
				if err != nil {
					return err
				}
				return a.printDataset(info)
			})
		},
	}
	sf.register(show, true)

	var hf datasetFlags
	history := &cobra.Command{
		Use:     "history",
		Short:   "show a dataset's schema versions: what each changed and why",
		Example: `  ingestctl dataset history --workspace ws1 --dataset orders`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withDataset(cmd, &hf, func(ctx context.Context, cat sink.Catalog, ds sink.Dataset) error {
				h, err := cat.History(ctx, ds)
				if err != nil {
					return err
				}
				if h == nil {
					h = []sink.SchemaChange{}
				}
				return a.printHistory(h)
			})
		},
	}
	hf.register(history, true)

	var rf datasetFlags
	limit := defaultRejectsLimit
	rejects := &cobra.Command{
		Use:     "rejects",
		Short:   "show a dataset's recorded rejected rows: object, line, column, value, reason",
		Example: `  ingestctl dataset rejects --workspace ws1 --dataset orders --limit 20`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 0 {
				return fmt.Errorf("--limit %d: want 0 (all) or more", limit)
			}
			return a.withDataset(cmd, &rf, func(ctx context.Context, cat sink.Catalog, ds sink.Dataset) error {
				rj, err := cat.Rejects(ctx, ds, limit)
				if err != nil {
					return err
				}
				if rj == nil {
					rj = []sink.RecordedReject{}
				}
				return a.printRejects(rj, limit)
			})
		},
	}
	rf.register(rejects, true)
	rejects.Flags().IntVar(&limit, "limit", defaultRejectsLimit, "rows to show, 0 for all")

	cmd.AddCommand(list, show, history, rejects)
	return cmd
}

// newTable returns the aligned writer the dataset commands print with.
func (a *app) newTable() *tabwriter.Writer {
	return tabwriter.NewWriter(a.stdout, 2, 4, 2, ' ', 0)
}

// cell makes a value safe for one table cell: control characters (a tab
// would break the alignment, a newline the row) are escaped; empty is "-".
func cell(s string) string {
	if s == "" {
		return "-"
	}
	if strings.IndexFunc(s, unicode.IsControl) < 0 {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// shortTime formats a time for tables ("-" when zero).
func shortTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func (a *app) printDatasets(all []sink.DatasetInfo) error {
	if a.asJSON {
		return a.printJSON(all)
	}
	if len(all) == 0 {
		a.printf("no datasets\n")
		return nil
	}
	tw := a.newTable()
	fmt.Fprintln(tw, "DATASET\tVERSION\tCOLUMNS\tOBJECTS\tROWS\tUPDATED")
	for _, d := range all {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\n", cell(d.Name), d.Version, len(d.Columns), d.Objects, d.Rows, shortTime(d.Updated))
	}
	return tw.Flush()
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// codecName renders a dataset's Parquet codec ("" is the sink's default).
func codecName(c sink.Codec) string {
	if c == sink.CodecDefault {
		return "default (snappy)"
	}
	return string(c)
}

func (a *app) printDataset(d *sink.DatasetInfo) error {
	if a.asJSON {
		return a.printJSON(d)
	}
	st := d.Settings.WithDefaults()
	a.printf("dataset %s/%s, schema version %d\n", d.Workspace, d.Name, d.Version)
	tw := a.newTable()
	fmt.Fprintf(tw, "created\t%s\n", shortTime(d.Created))
	fmt.Fprintf(tw, "updated\t%s\n", shortTime(d.Updated))
	fmt.Fprintf(tw, "objects\t%d\n", d.Objects)
	fmt.Fprintf(tw, "rows\t%d\n", d.Rows)
	fmt.Fprintf(tw, "evolution\t%s\n", st.Evolution)
	fmt.Fprintf(tw, "modified objects\t%s\n", st.Modified)
	fmt.Fprintf(tw, "type widening\t%s\n", onOff(st.AllowWidening))
	fmt.Fprintf(tw, "lineage columns\t%s\n", onOff(st.Lineage))
	fmt.Fprintf(tw, "compression\t%s\n", codecName(st.Compression))
	if err := tw.Flush(); err != nil {
		return err
	}

	// The STORED column appears only when a column is stored under
	// another name.
	renamed := false
	for _, c := range d.Columns {
		if c.Stored != "" && c.Stored != c.Name {
			renamed = true
		}
	}
	a.printf("\ncolumns:\n")
	tw = a.newTable()
	head := []string{"NAME", "TYPE", "NULLABLE", "PINNED", "ADDED BY", "ADDED AT", "REASON"}
	if renamed {
		head = append([]string{"NAME", "STORED AS"}, head[1:]...)
	}
	fmt.Fprintln(tw, "  "+strings.Join(head, "\t"))
	for _, c := range d.Columns {
		null := "NOT NULL"
		if c.Nullable {
			null = "nullable"
		}
		pinned := "-"
		if c.Pinned {
			pinned = "pinned"
		}
		row := []string{cell(c.Name), c.Type.String(), null, pinned, cell(c.AddedBy), shortTime(c.AddedAt), cell(c.Reason)}
		if renamed {
			stored := "-"
			if c.Stored != "" && c.Stored != c.Name {
				stored = cell(c.Stored)
			}
			row = append([]string{row[0], stored}, row[1:]...)
		}
		fmt.Fprintln(tw, "  "+strings.Join(row, "\t"))
	}
	return tw.Flush()
}

// changeSummary renders a schema change's columns: "+id int64, +amount
// float64; amount int64→float64".
func changeSummary(c sink.SchemaChange) string {
	var parts []string
	if len(c.Added) > 0 {
		added := make([]string, len(c.Added))
		for i, col := range c.Added {
			added[i] = "+" + col.Name + " " + col.Type.String()
		}
		parts = append(parts, strings.Join(added, ", "))
	}
	if len(c.Widened) > 0 {
		widened := make([]string, len(c.Widened))
		for i, w := range c.Widened {
			widened[i] = w.Column + " " + w.From.String() + "→" + w.To.String()
		}
		parts = append(parts, strings.Join(widened, ", "))
	}
	return strings.Join(parts, "; ")
}

func (a *app) printHistory(h []sink.SchemaChange) error {
	if a.asJSON {
		return a.printJSON(h)
	}
	if len(h) == 0 {
		a.printf("no schema versions\n")
		return nil
	}
	tw := a.newTable()
	fmt.Fprintln(tw, "VERSION\tAT\tOBJECT\tCHANGES\tREASON")
	for _, c := range h {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", c.Version, shortTime(c.At), cell(c.Object), cell(changeSummary(c)), cell(c.Reason))
	}
	return tw.Flush()
}

// objectName renders an object version as "s3://bucket/key#version", the
// form Column.AddedBy uses.
func objectName(o sink.ObjectRef) string {
	s := "s3://" + o.Bucket + "/" + o.Key
	if v := o.Version(); v != "" {
		s += "#" + v
	}
	return s
}

// rejectPlace renders where a rejected row was: "line N" (CSV/JSON),
// "row N" (Parquet), "-" when unknown.
func rejectPlace(r sink.Reject) string {
	switch {
	case r.Line > 0:
		return "line " + strconv.FormatInt(r.Line, 10)
	case r.Row > 0:
		return "row " + strconv.FormatInt(r.Row, 10)
	}
	return "-"
}

func (a *app) printRejects(rj []sink.RecordedReject, limit int) error {
	if a.asJSON {
		return a.printJSON(rj)
	}
	if len(rj) == 0 {
		a.printf("no rejected rows\n")
		return nil
	}
	tw := a.newTable()
	fmt.Fprintln(tw, "OBJECT\tWHERE\tCOLUMN\tVALUE\tREASON")
	for _, r := range rj {
		// The value is quoted: empty values and edge spaces stay visible.
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cell(objectName(r.Object)), rejectPlace(r.Reject), cell(r.Column), strconv.Quote(r.Value), cell(r.Error))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if limit > 0 && len(rj) == limit {
		a.printf("(the first %d; --limit 0 shows all)\n", limit)
	}
	return nil
}
