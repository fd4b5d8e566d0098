package control

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/text"
	"github.com/cspsync/cspsync/internal/usersync"
)

// Operator input. What an operator writes into the PSA (a user added by
// hand, a site, top-level or partner name, a site or field mapping) meets
// the rules the sync applies to what Microsoft sends: the PSA's field
// limits (usersync.MaxLen), a valid email, and text free of what
// internal/text keeps out of storage. Where Microsoft's text is cleaned,
// an operator's is refused with the reason: the operator can type it again,
// and nothing is stored other than what was typed. Ids name records that
// exist, or the operation is refused before it does anything.

// maxName bounds the names operators give sites, top levels and partners:
// the PSA's limit for a name.
var maxName = usersync.MaxLen(usersync.FieldName)

// maxExpression bounds a CEL filter or field mapping, in characters.
const maxExpression = 4096

// operatorText returns s trimmed, or why it cannot be stored: invalid
// UTF-8, a control, escape or bidi formatting character (line breaks and
// tabs included; letters of every script and combining marks are fine), or
// more than max characters. what names the text as the operator gave it.
func operatorText(what, s string, max int) (string, error) {
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%s is not valid UTF-8: type it again from a UTF-8 terminal", what)
	}
	pos := 0
	for _, r := range s {
		pos++
		if text.Unsafe(r) {
			return "", fmt.Errorf("%s holds %U at character %d, a control, escape or bidi formatting character that cspsync never stores: "+
				"type it again without (on one line)", what, r, pos)
		}
	}
	if pos > max {
		return "", fmt.Errorf("%s is %d characters long, at most %d fit: shorten it", what, pos, max)
	}
	return s, nil
}

// psaUser checks a PSA user an operator adds by hand: a name, and the
// PSA's limits and a valid email address, as the rounds check Microsoft's.
func psaUser(name, email, login string) (string, string, string, error) {
	name, err := operatorText("--name", name, usersync.MaxLen(usersync.FieldName))
	if err != nil {
		return "", "", "", err
	}
	if name == "" {
		return "", "", "", errors.New("a user needs a name: --name")
	}
	if email, err = operatorText("--email", email, usersync.MaxLen(usersync.FieldEmail)); err != nil {
		return "", "", "", err
	}
	if email != "" && !usersync.ValidEmail(email) {
		return "", "", "", fmt.Errorf("--email %q is not an email address: give a bare address such as alice@contoso.com (or none)", email)
	}
	if login, err = operatorText("--login", login, usersync.MaxLen(usersync.FieldNetworkLogin)); err != nil {
		return "", "", "", err
	}
	return name, email, login, nil
}

// expression checks a CEL filter or field mapping as typed (CEL itself
// checks it next).
func expression(what, s string) (string, error) {
	return operatorText(what, s, maxExpression)
}

func customerNumber(s string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("customer id %q is not a number: take it from the ID column of `cspsync customers list`", s)
	}
	return id, nil
}

// customerByID finds the customer an operator named by its id.
func (c *Control) customerByID(ctx context.Context, customerID string) (*store.Store, store.Customer, error) {
	id, err := customerNumber(customerID)
	if err != nil {
		return nil, store.Customer{}, err
	}
	st, err := c.db(ctx)
	if err != nil {
		return nil, store.Customer{}, err
	}
	cu, err := st.GetCustomer(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return st, cu, fmt.Errorf("customer %d does not exist: take the id from the ID column of `cspsync customers list`", id)
	}
	return st, cu, err
}

// forCustomer opens the store for a customer an operator named by its id,
// once it is known to exist.
func (c *Control) forCustomer(ctx context.Context, customerID string) (*store.Store, int64, error) {
	st, cu, err := c.customerByID(ctx, customerID)
	return st, cu.ID, err
}

// partnerFor is the partner whose mappings an operator changes or reads,
// and the customer's id (0 for the partner's own mappings). A customer
// named by id must exist; its partner is the one meant (partnerID, when
// given too, must be it). A customer no discovery has linked yet takes
// partnerID, the partner whose discovery will. A partner must exist.
func (c *Control) partnerFor(ctx context.Context, partnerID, customerID string) (string, int64, error) {
	var id int64
	if customerID != "" {
		_, cu, err := c.customerByID(ctx, customerID)
		switch {
		case err != nil:
			return "", 0, err
		case cu.PartnerID != "" && partnerID != "" && partnerID != cu.PartnerID:
			return "", 0, fmt.Errorf("customer %d (%s) is a customer of partner %s, not %s: leave out --partner, or give --partner %[3]s", cu.ID, cu.Name, cu.PartnerID, partnerID)
		case cu.PartnerID != "":
			return cu.PartnerID, cu.ID, nil
		case partnerID == "":
			return "", 0, fmt.Errorf("customer %d (%s) belongs to no partner yet: give --partner, the partner whose discovery will link it to its tenant", cu.ID, cu.Name)
		}
		id = cu.ID
	}
	st, err := c.db(ctx)
	if err != nil {
		return "", 0, err
	}
	if _, err := st.GetPartner(ctx, partnerID); errors.Is(err, store.ErrNotFound) {
		return "", 0, fmt.Errorf("partner %q does not exist: give --partner as `cspsync status` lists it (or set CSPSYNC_PARTNER)", partnerID)
	} else if err != nil {
		return "", 0, err
	}
	return partnerID, id, nil
}
