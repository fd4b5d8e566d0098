package domain_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/cspsync/cspsync/internal/domain"
)

func TestFailuresOfThePartnerAreRecordedForThePartner(t *testing.T) {
	cases := []struct {
		info    domain.ErrorInfo
		partner bool
	}{
		{domain.ErrorInfo{Code: "AADSTS50173", Reaction: domain.Reauthorise}, true},
		{domain.ErrorInfo{Code: domain.CodeMembershipRefused, Reaction: domain.NeedsFix}, true},
		{domain.ErrorInfo{Code: domain.CodeKeyMismatch, Reaction: domain.NeedsFix}, true},
		{domain.ErrorInfo{Code: "PartnerCenter900150", Reaction: domain.NeedsFix}, false},
		{domain.ErrorInfo{Code: "Authorization_IdentityNotFound", Reaction: domain.AwaitConsent}, false},
		{domain.ErrorInfo{Code: "HTTP503", Reaction: domain.Retry}, false},
		{domain.Internal(domain.OpSync, errors.New("timeout")), false},
	}
	for _, c := range cases {
		assert.Equal(t, c.partner, c.info.ConcernsPartner(), c.info.Code)
	}
}

func TestRefusedConsentIsRevokedOnlyIfItWasGranted(t *testing.T) {
	for from, want := range map[domain.Consent]domain.Consent{
		domain.ConsentGranted:     domain.ConsentRevoked,
		domain.ConsentNotRequired: domain.ConsentPending,
		domain.ConsentPending:     domain.ConsentPending,
		domain.ConsentUnknown:     domain.ConsentPending,
		"":                        domain.ConsentPending,
	} {
		assert.Equal(t, want, from.Refused(), "from %q", from)
	}
}

func TestInternalNamesTheCommandThatTriesAgain(t *testing.T) {
	for op, cmd := range map[domain.Operation]string{
		domain.OpDiscovery: "`cspsync sync`",
		domain.OpSync:      "`cspsync tenants sync <tenant>`",
		domain.OpLicences:  "`cspsync licences import --tenant <tenant>`",
		domain.OpUsers:     "`cspsync sync --tenant <tenant>`",
	} {
		info := domain.Internal(op, errors.New("activity StartToClose timeout"))
		assert.Equal(t, domain.CodeInternal, info.Code)
		assert.Equal(t, "activity StartToClose timeout", info.Cause)
		assert.Equal(t, "See the worker log; "+cmd+" tries again.", info.Remediation)
		assert.Equal(t, domain.Retry, info.Reaction)
	}
}

func TestNextStepOfAPartner(t *testing.T) {
	last := &domain.ErrorInfo{Code: "AADSTS7000222", Remediation: "Create a new client secret."}
	assert.Equal(t, "", domain.AuthAuthorised.NextStep(last))
	assert.Equal(t, "complete the sign-in from `cspsync connect`", domain.AuthPending.NextStep(nil))
	assert.Equal(t, "authorise again with `cspsync connect`", domain.AuthNeedsReauthorisation.NextStep(nil))
	assert.Equal(t, "AADSTS7000222: Create a new client secret.", domain.AuthNeedsReauthorisation.NextStep(last))
}
