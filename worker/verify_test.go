package worker_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/s3ingest/s3ingest/credstore"
	"github.com/s3ingest/s3ingest/internal/testenv"
	"github.com/s3ingest/s3ingest/jobs"
	"github.com/s3ingest/s3ingest/worker"
	"github.com/s3ingest/s3ingest/worker/sink"
)

// verifySteps are the step names of a report, in order.
var verifySteps = []string{worker.StepIntegration, worker.StepAssumeRole, worker.StepExternalID, worker.StepRegion,
	worker.StepList, worker.StepRead, worker.StepSniff}

// checkStatuses fails unless the report has every step, in order, with the
// given statuses (space-separated).
func checkStatuses(t *testing.T, rep *jobs.VerifyReport, want string) {
	t.Helper()
	var got, steps []string
	for _, c := range rep.Checks {
		got = append(got, string(c.Status))
		steps = append(steps, c.Step)
	}
	if strings.Join(steps, " ") != strings.Join(verifySteps, " ") || strings.Join(got, " ") != want {
		t.Fatalf("report steps %v statuses %v, want %v %s\n%s", steps, got, verifySteps, want, reportText(rep))
	}
	if rep.OK() != !strings.Contains(want, "fail") {
		t.Fatalf("OK() = %v for statuses %s", rep.OK(), want)
	}
}

func reportText(rep *jobs.VerifyReport) string {
	b, _ := json.MarshalIndent(rep, "", "  ")
	return string(b)
}

func check(rep *jobs.VerifyReport, step string) jobs.Check {
	for _, c := range rep.Checks {
		if c.Step == step {
			return c
		}
	}
	return jobs.Check{}
}

// mustContain fails unless s contains every want.
func mustContain(t *testing.T, what, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Fatalf("%s %q lacks %q", what, s, w)
		}
	}
}

// listOnlyPolicy is the generated permission policy without its object
// statement: the customer forgot s3:GetObject.
func listOnlyPolicy(bucket, prefix string) func(*testing.T, *credstore.Integration) string {
	gen := generatedPolicy(bucket, prefix)
	return func(t *testing.T, integ *credstore.Integration) string {
		var doc credstore.PolicyDocument
		if err := json.Unmarshal([]byte(gen(t, integ)), &doc); err != nil {
			t.Fatal(err)
		}
		var kept []credstore.PolicyStatement
		for _, st := range doc.Statement {
			if st.Sid != "ReadObjects" {
				kept = append(kept, st)
			}
		}
		if len(kept) != len(doc.Statement)-1 {
			t.Fatalf("generated policy has no ReadObjects statement: %+v", doc)
		}
		doc.Statement = kept
		b, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
}

// TestVerify runs the verification steps against real STS (with the
// External ID proxy) and S3 for integrations whose roles are set up right
// and in each of the ways customers get them wrong.
func TestVerify(t *testing.T) {
	const otherExternalID = "someone-elses-external-id-0123456789abcdef"
	env := newIntegEnv(t, []roleSpec{
		// Set up as `ingestctl integration create` prints it.
		{Workspace: "ws-ok", Name: "customer-ingest", Policy: generatedPolicy(customerBucket, "exports/")},
		// Trust policy without the sts:ExternalId condition.
		{Workspace: "ws-open", Name: "no-external-id", Policy: generatedPolicy(customerBucket, "exports/"),
			Trust: func(*testing.T, *credstore.Integration) string {
				return testenv.TrustPolicyFor(testenv.PlatformUserARN, "")
			}},
		// The permission policy lacks s3:GetObject.
		{Workspace: "ws-listonly", Name: "list-only", Policy: listOnlyPolicy(customerBucket, "exports/")},
		// The trust policy names another External ID.
		{Workspace: "ws-wrong", Name: "wrong-external-id", Policy: generatedPolicy(customerBucket, "exports/"),
			Trust: func(t *testing.T, integ *credstore.Integration) string {
				doc, err := credstore.TrustPolicy(integ.UserARN, otherExternalID)
				if err != nil {
					t.Fatal(err)
				}
				return string(doc)
			}},
		// The trust policy names another principal than the platform's.
		{Workspace: "ws-untrusted", Name: "untrusted", Policy: generatedPolicy(customerBucket, "exports/"),
			Trust: func(t *testing.T, integ *credstore.Integration) string {
				doc, err := credstore.TrustPolicy(testenv.ReaderIdentity.ARN(), integ.ExternalID)
				if err != nil {
					t.Fatal(err)
				}
				return string(doc)
			}},
		// During a rotation the customer applied the new External ID only.
		{Workspace: "ws-rotating", Name: "rotating", Policy: generatedPolicy(customerBucket, "exports/"), Rotate: true,
			Trust: func(t *testing.T, integ *credstore.Integration) string {
				doc, err := credstore.TrustPolicy(integ.UserARN, integ.NextExternalID)
				if err != nil {
					t.Fatal(err)
				}
				return string(doc)
			}},
	}, nil)
	env.srv.Put(t, customerBucket, "exports/a.csv", ordersCSV(1, 20, nil))
	env.srv.Put(t, customerBucket, "exports/b.csv.gz", gz(ordersCSV(21, 20, nil)))
	env.srv.Put(t, customerBucket, "exports/empty/zero.csv", nil)
	env.srv.Put(t, customerBucket, "private/secret.csv", ordersCSV(1, 2, nil))
	if _, err := env.store.CreateIntegration(t.Context(), "ws-pending", ""); err != nil {
		t.Fatal(err)
	}
	verify := func(t *testing.T, ws, prefix string) *jobs.VerifyReport {
		t.Helper()
		rep, err := env.handlers.Verify(t.Context(), jobs.VerifyPayload{WorkspaceID: ws, Bucket: customerBucket, Prefix: prefix})
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if rep.WorkspaceID != ws || rep.Bucket != customerBucket || rep.Prefix != prefix {
			t.Fatalf("report header %+v", rep)
		}
		return rep
	}

	t.Run("all steps pass through the verify task", func(t *testing.T) {
		task, err := jobs.NewVerifyTask(jobs.VerifyPayload{WorkspaceID: "ws-ok", Bucket: customerBucket, Prefix: "exports/"})
		if err != nil {
			t.Fatal(err)
		}
		var rep jobs.VerifyReport
		info, err := env.run(task, &rep)
		if err != nil || info.State != asynq.TaskStateCompleted {
			t.Fatalf("verify task: state %s err %v", info.State, err)
		}
		checkStatuses(t, &rep, "pass pass pass pass pass pass pass")
		if rep.RoleARN != env.integs["ws-ok"].RoleARN {
			t.Fatalf("role ARN %q", rep.RoleARN)
		}
		mustContain(t, "assume-role detail", check(&rep, worker.StepAssumeRole).Detail, env.integs["ws-ok"].ExternalID)
		mustContain(t, "region detail", check(&rep, worker.StepRegion).Detail, env.rec.Endpoint, "us-east-1")
		mustContain(t, "list detail", check(&rep, worker.StepList).Detail, "3 objects", "exports/a.csv, exports/b.csv.gz, exports/empty/zero.csv")
		mustContain(t, "read detail", check(&rep, worker.StepRead).Detail, "s3://"+customerBucket+"/exports/a.csv")
		mustContain(t, "sniff detail", check(&rep, worker.StepSniff).Detail, "format csv", "compression none", "5 columns", "id, name, amount, day, paid")
		for _, c := range rep.Checks {
			if c.Fix != "" {
				t.Fatalf("passing step %s has a fix %q", c.Step, c.Fix)
			}
		}
		// AssumeRole with, then without, the External ID.
		calls := assumeRoleCalls(env.srv, env.resolver, "ws-ok")
		if len(calls) != 2 || calls[0].ExternalID != env.integs["ws-ok"].ExternalID || calls[0].Status != http.StatusOK ||
			calls[1].ExternalID != "" || !calls[1].DeniedByProxy {
			t.Fatalf("AssumeRole calls %+v", calls)
		}
	})

	t.Run("confused deputy: External ID not required", func(t *testing.T) {
		rep := verify(t, "ws-open", "exports/")
		checkStatuses(t, rep, "pass pass warn pass pass pass pass")
		c := check(rep, worker.StepExternalID)
		mustContain(t, "external-id-required detail", c.Detail, "WITHOUT the External ID", "confused deputy")
		mustContain(t, "external-id-required fix", c.Fix, `"sts:ExternalId": "`+env.integs["ws-open"].ExternalID+`"`)
	})

	t.Run("prefix the policy does not allow", func(t *testing.T) {
		rep := verify(t, "ws-ok", "private/")
		checkStatuses(t, rep, "pass pass pass pass fail skip skip")
		c := check(rep, worker.StepList)
		mustContain(t, "list detail", c.Detail, "access denied", "s3://"+customerBucket+"/private/")
		mustContain(t, "list fix", c.Fix, "s3:ListBucket", "arn:aws:s3:::"+customerBucket, "s3:prefix")
	})

	t.Run("object the policy cannot read", func(t *testing.T) {
		rep := verify(t, "ws-listonly", "exports/")
		checkStatuses(t, rep, "pass pass pass pass pass fail skip")
		c := check(rep, worker.StepRead)
		mustContain(t, "read detail", c.Detail, "access denied", "s3://"+customerBucket+"/exports/a.csv")
		mustContain(t, "read fix", c.Fix, "s3:GetObject", "arn:aws:s3:::"+customerBucket+"/exports/a.csv")
	})

	t.Run("KMS denial is named as such", func(t *testing.T) {
		// S3 answers the read as AWS does when the role may not use the
		// object's KMS key; everything else goes to SeaweedFS.
		kms := kmsDenyingProxy(t, env.rec.Endpoint, "/"+customerBucket+"/exports/a.csv")
		snk, err := sink.OpenFile(t.TempDir(), sink.FileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		h, err := worker.NewHandlers(worker.Config{S3Endpoint: kms}, env.resolver, snk, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := h.Verify(t.Context(), jobs.VerifyPayload{WorkspaceID: "ws-ok", Bucket: customerBucket, Prefix: "exports/"})
		if err != nil {
			t.Fatal(err)
		}
		checkStatuses(t, rep, "pass pass pass pass pass fail skip")
		c := check(rep, worker.StepRead)
		mustContain(t, "read detail", c.Detail, "KMS key", "s3://"+customerBucket+"/exports/a.csv")
		mustContain(t, "read fix", c.Fix, "kms:Decrypt")
	})

	t.Run("wrong External ID", func(t *testing.T) {
		rep := verify(t, "ws-wrong", "exports/")
		checkStatuses(t, rep, "pass fail skip skip skip skip skip")
		c := check(rep, worker.StepAssumeRole)
		mustContain(t, "assume-role detail", c.Detail, "External ID "+env.integs["ws-wrong"].ExternalID, string(credstore.CauseExternalIDMismatch))
		mustContain(t, "assume-role fix", c.Fix, "sts:ExternalId", "External ID of workspace ws-wrong's integration")
	})

	// SeaweedFS, like AWS, answers an untrusted principal and a missing role
	// with the same AccessDenied; the fix then names every possible cause.
	deniedFix := func(t *testing.T, ws string) {
		t.Helper()
		rep := verify(t, ws, "exports/")
		checkStatuses(t, rep, "pass fail skip skip skip skip skip")
		c := check(rep, worker.StepAssumeRole)
		mustContain(t, "assume-role detail", c.Detail, rep.RoleARN, string(credstore.CauseAccessDenied), "AccessDenied")
		mustContain(t, "assume-role fix", c.Fix, "role exists", "allows principal "+testenv.PlatformUserARN, "sts:ExternalId")
	}
	t.Run("principal not trusted", func(t *testing.T) { deniedFix(t, "ws-untrusted") })

	t.Run("role not found", func(t *testing.T) {
		if _, err := env.store.CreateIntegration(t.Context(), "ws-norole", "arn:aws:iam::"+testenv.AccountID+":role/does-not-exist"); err != nil {
			t.Fatal(err)
		}
		deniedFix(t, "ws-norole")
	})

	t.Run("rotation checks the new External ID", func(t *testing.T) {
		integ := env.integs["ws-rotating"]
		rep := verify(t, "ws-rotating", "exports/")
		checkStatuses(t, rep, "pass pass pass pass pass pass pass")
		mustContain(t, "integration detail", check(rep, worker.StepIntegration).Detail, "rotation in progress", integ.NextExternalID)
		mustContain(t, "assume-role detail", check(rep, worker.StepAssumeRole).Detail, integ.NextExternalID)
		// Jobs still use the current External ID, which this role no
		// longer accepts: that is what finishing the rotation changes.
		_, err := env.resolver.Resolve(t.Context(), "ws-rotating", "")
		if !credstore.IsSTSDenied(err) || !strings.Contains(err.Error(), string(credstore.CauseExternalIDMismatch)) {
			t.Fatalf("resolve with the current External ID: %v, want an External ID denial", err)
		}
	})

	t.Run("nothing to read", func(t *testing.T) {
		rep := verify(t, "ws-ok", "exports/empty/")
		checkStatuses(t, rep, "pass pass pass pass warn skip skip")
		mustContain(t, "list detail", check(rep, worker.StepList).Detail, "1 object, all empty")
		mustContain(t, "read detail", check(rep, worker.StepRead).Detail, "no non-empty object")
	})

	t.Run("no integration", func(t *testing.T) {
		rep := verify(t, "ws-none", "exports/")
		checkStatuses(t, rep, "fail skip skip skip skip skip skip")
		mustContain(t, "integration fix", check(rep, worker.StepIntegration).Fix, "create an AWS integration")
		if a := check(rep, worker.StepIntegration).Action; a != jobs.ActionCreateIntegration {
			t.Errorf("integration action = %q, want %q", a, jobs.ActionCreateIntegration)
		}
	})

	t.Run("pending integration", func(t *testing.T) {
		rep := verify(t, "ws-pending", "exports/")
		checkStatuses(t, rep, "fail skip skip skip skip skip skip")
		mustContain(t, "integration fix", check(rep, worker.StepIntegration).Fix, "set the integration's role ARN")
		if a := check(rep, worker.StepIntegration).Action; a != jobs.ActionSetRole {
			t.Errorf("integration action = %q, want %q", a, jobs.ActionSetRole)
		}
	})

	t.Run("invalid payload", func(t *testing.T) {
		_, err := env.handlers.Verify(t.Context(), jobs.VerifyPayload{WorkspaceID: "ws-ok"})
		if err == nil || !strings.Contains(err.Error(), "bucket") {
			t.Fatalf("Verify without a bucket: %v", err)
		}
	})

	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := env.handlers.Verify(ctx, jobs.VerifyPayload{WorkspaceID: "ws-ok", Bucket: customerBucket}); err == nil {
			t.Fatal("Verify with a canceled context returned a report")
		}
	})
}

// kmsDenyingProxy forwards to upstream (keeping the Host header the client
// signed) but answers GETs of path with the 403 S3 sends when the caller
// may not use the object's KMS key.
func kmsDenyingProxy(t *testing.T, upstream, path string) string {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.Out.URL.Scheme, pr.Out.URL.Host = u.Scheme, u.Host
		pr.Out.Host = pr.In.Host
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == path {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>AccessDenied</Code><Message>User: arn:aws:sts::000000000000:assumed-role/customer-ingest/s3ingest-ws-ok is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:us-east-1:000000000000:key/1234abcd because no identity-based policy allows the kms:Decrypt action</Message><RequestId>KMSDENIED1</RequestId></Error>`))
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
