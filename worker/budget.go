package worker

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/s3ingest/s3ingest/jobs"
	"github.com/s3ingest/s3ingest/parsers"
)

// firstErrors is how many row errors a BudgetError shows.
const firstErrors = 5

// errorBudget is the error budget of one ingest: its limits, the job's
// counts of rejected and accepted rows, and the first rejected rows as
// samples for the result. It is safe for concurrent use; each object
// keeps its own counts in an objectBudget.
type errorBudget struct {
	limits jobs.ErrorBudget
	// rejected and read count the job's rejected and accepted rows.
	rejected, read atomic.Int64

	mu      sync.Mutex
	samples []jobs.RejectSample // the first jobs.MaxRejectSamples rejected rows
}

func newErrorBudget(limits jobs.ErrorBudget) *errorBudget {
	return &errorBudget{limits: limits}
}

// object returns the budget of one object of the job, named name.
func (b *errorBudget) object(name string) *objectBudget {
	return &objectBudget{job: b, name: name}
}

// rejects returns the job's rejected row count and a copy of the samples.
func (b *errorBudget) rejects() (int64, []jobs.RejectSample) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rejected.Load(), append([]jobs.RejectSample(nil), b.samples...)
}

func (b *errorBudget) sample(pe *parsers.ParseError) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.samples) < jobs.MaxRejectSamples {
		b.samples = append(b.samples, jobs.RejectSample{Object: pe.Object, Line: pe.Line, Row: pe.Row,
			Column: pe.Column, Value: pe.Value, Error: pe.Error()})
	}
}

// objectBudget is the error budget of one object: its own counts and first
// errors, charged to the job's budget too. It is used by one goroutine.
type objectBudget struct {
	job  *errorBudget
	name string
	// rejected and read count the object's rejected and accepted rows.
	rejected, read int64
	first          []string // the first row errors, for the BudgetError
}

// reject counts a rejected row and returns a *BudgetError if that exceeds
// a limit of the object or of the job.
func (o *objectBudget) reject(pe *parsers.ParseError) error {
	o.rejected++
	jobRej := o.job.rejected.Add(1)
	if len(o.first) < firstErrors {
		o.first = append(o.first, pe.Error())
	}
	o.job.sample(pe)
	return o.exceeded(jobRej, o.job.read.Load()+jobRej)
}

// accept counts n rows that were read and written.
func (o *objectBudget) accept(n int64) {
	o.read += n
	o.job.read.Add(n)
}

// undo takes the object's counts back out of the job's, for an attempt at
// the object that is abandoned to be read again (a concurrent schema
// change): its rows were not committed and are read again.
func (o *objectBudget) undo() {
	o.job.rejected.Add(-o.rejected)
	o.job.read.Add(-o.read)
}

// exceeded returns a *BudgetError when the rejected rows exceed a limit,
// given the job's rejected rows and rows seen (read or rejected). A budget
// with no limit set tolerates no rejected row; a zero limit is otherwise
// "not set". Fractions are judged once 100 rows were seen (and on the
// whole object by finish).
func (o *objectBudget) exceeded(jobRej, jobSeen int64) error {
	b := o.job.limits
	objSeen := o.read + o.rejected
	errAt := func(scope, limit string, rej, seen int64) error {
		e := &BudgetError{Scope: scope, Rejected: rej, Read: seen, Limit: limit, First: o.first}
		if scope == "object" {
			e.Object = o.name
		}
		return e
	}
	switch {
	case b == (jobs.ErrorBudget{}) && o.rejected > 0:
		return errAt("object", "none: error_budget is not set", o.rejected, objSeen)
	case b.ObjectMaxRows > 0 && o.rejected > b.ObjectMaxRows:
		return errAt("object", fmt.Sprintf("object_max_rows %d", b.ObjectMaxRows), o.rejected, objSeen)
	case b.ObjectMaxFraction > 0 && objSeen >= 100 && float64(o.rejected)/float64(objSeen) > b.ObjectMaxFraction:
		return errAt("object", fmt.Sprintf("object_max_fraction %g", b.ObjectMaxFraction), o.rejected, objSeen)
	case b.JobMaxRows > 0 && jobRej > b.JobMaxRows:
		return errAt("job", fmt.Sprintf("job_max_rows %d", b.JobMaxRows), jobRej, jobSeen)
	case b.JobMaxFraction > 0 && jobSeen >= 100 && float64(jobRej)/float64(jobSeen) > b.JobMaxFraction:
		return errAt("job", fmt.Sprintf("job_max_fraction %g", b.JobMaxFraction), jobRej, jobSeen)
	}
	return nil
}

// finish judges the object's fraction of rejected rows on the whole object
// (below 100 rows reject did not), once it was read to its end.
func (o *objectBudget) finish() error {
	frac := o.job.limits.ObjectMaxFraction
	if seen := o.read + o.rejected; frac > 0 && seen > 0 && float64(o.rejected)/float64(seen) > frac {
		return &BudgetError{Scope: "object", Object: o.name, Rejected: o.rejected, Read: seen,
			Limit: fmt.Sprintf("object_max_fraction %g", frac), First: o.first}
	}
	return nil
}
