package control

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/workflows"
)

// RequestDiscovery asks the partner's workflow to discover; it runs once the
// partner is authorised.
func (c *Control) RequestDiscovery(ctx context.Context, partnerID string) error {
	tc, err := c.client(ctx)
	if err != nil {
		return err
	}
	st, err := workflows.QueryPartnerState.Get(ctx, tc, workflows.PartnerWorkflowID(partnerID))
	if err != nil {
		return fmt.Errorf("partner %s has no running workflow (%w): run `cspsync connect` first", partnerID, err)
	}
	if err := workflows.SignalPartner(ctx, tc, c.cfg.TaskQueue, partnerID, workflows.SignalDiscover, struct{}{}); err != nil {
		return err
	}
	if st.Auth != domain.AuthAuthorised {
		return fmt.Errorf("partner %s is %s: discovery will run once it is authorised (`cspsync connect`)", partnerID, st.Auth)
	}
	return nil
}

// Discover runs a discovery and returns its counts once it has finished
// (a Temporal Update, so nothing polls for the result). A discovery that
// keeps failing and retrying (Microsoft unreachable, throttled for long)
// ends the wait early with the recorded cause and fix, as does the timeout:
// only when nothing is recorded is the worker the suspect.
func (c *Control) Discover(ctx context.Context, partnerID string, timeout time.Duration) (Discovered, error) {
	tc, err := c.client(ctx)
	if err != nil {
		return Discovered{}, err
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type outcome struct {
		res Discovered
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := workflows.UpdateDiscover.Execute(wctx, tc, workflows.PartnerWorkflowID(partnerID), struct{}{})
		done <- outcome{discoveredOf(res), err}
	}()
	// The activity's retries happen inside Temporal; its pending state shows them.
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case o := <-done:
			return o.res, c.discoverFailed(ctx, tc, partnerID, timeout, wctx.Err() != nil, o.err)
		case <-tick.C:
			if err := c.retryingDiscovery(ctx, tc, partnerID, giveUpAfterFailures); err != nil {
				return Discovered{}, err
			}
		}
	}
}

// giveUpAfterFailures is how many failed attempts of a discovery `sync
// --wait` sees before it reports the cause instead of waiting on: past the
// short backoffs (1 s, 2 s, 4 s), a failure is not a blip.
const giveUpAfterFailures = 3

func (c *Control) discoverFailed(ctx context.Context, tc temporalClient, partnerID string, timeout time.Duration, timedOut bool, err error) error {
	var nf *serviceerror.NotFound
	var app *temporal.ApplicationError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &nf):
		return fmt.Errorf("partner %s has no running workflow: run `cspsync connect` first", partnerID)
	case errors.As(err, &app):
		return fmt.Errorf("discovery of %s: %s", partnerID, app.Message())
	case timedOut:
		if err := c.retryingDiscovery(ctx, tc, partnerID, 1); err != nil {
			return err
		}
		return fmt.Errorf("discovery of %s did not finish within %s (is the worker running? see `cspsync status`)", partnerID, timeout)
	}
	return fmt.Errorf("discovery of %s: %w", partnerID, err)
}

// retryingDiscovery returns, as an error with its recorded cause and fix,
// a discovery of the partner that has failed at least failures times and
// is waiting to retry; nil otherwise.
func (c *Control) retryingDiscovery(ctx context.Context, tc temporalClient, partnerID string, failures int32) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	desc, err := tc.DescribeWorkflow(ctx, workflows.PartnerWorkflowID(partnerID), "")
	if err != nil {
		return nil
	}
	for _, a := range desc.RawResponse.GetPendingActivities() {
		if a.GetActivityType().GetName() != "DiscoverTenants" || a.GetLastFailure() == nil || a.GetAttempt()-1 < failures {
			continue
		}
		last := a.GetLastFailure().GetMessage()
		if e := c.openDiscoveryError(ctx, partnerID); e != nil {
			last = e.Code + ": " + strings.TrimSuffix(e.Message, ".") + ". Fix: " + e.Remediation
		}
		return fmt.Errorf("discovery of %s has failed %d times and keeps retrying in the background (`cspsync status` shows when it recovers). Last failure: %s",
			partnerID, a.GetAttempt()-1, last)
	}
	return nil
}

// openDiscoveryError is the partner's open discovery error, if one is recorded.
func (c *Control) openDiscoveryError(ctx context.Context, partnerID string) *IntegrationError {
	errs, err := c.Errors(ctx, partnerID, false)
	if err != nil {
		return nil
	}
	for i, e := range errs {
		if e.TenantID == "" && e.Operation == domain.OpDiscovery {
			return &errs[i]
		}
	}
	return nil
}
