// Package usersync decides what a users round does to the PSA: which site a Graph user belongs
// to (site mappings with CEL filters), which PSA values he gets (field mappings), which PSA user
// he is (matching), whether he is active (account state), what changed, which kind of round to
// run (ChooseRound) and who is absent after a full round (Plan.Absent). It does no I/O: the
// activities fetch pages and turn Outcomes into the rows the store writes; the store reads the
// PSA users (domain.PSAUser) a page needs.
//
// A round builds one Plan (compiled once; expressions are cached across rounds), then per page:
//
//	page, _ := usersync.DecodeDeltaPage(body)             // $select: plan.Select(usersync.Delta)
//	ids := page.Partial(plan.Select(usersync.Delta))      // delta-link rounds: users sent in part
//	page.Complete(ids, full)                              // full: those ids read again (DecodeListPage)
//	batch := plan.Prepare(usersync.Delta, page.Users)
//	found := store.FindPSAUsers(customer, batch.Lookups()) // one query (the activity maps the keys)
//	outcomes := batch.Decide(found)                        // one per user, in page order
//
// At the end of a full round, plan.Absent decides for each PSA user the round did not see. In premium
// tenants a sign-in pass (list users, $select plan.Select(usersync.SignIns), DecodeListPage)
// runs Prepare and Decide with usersync.SignIns to refresh the mappings that read
// signInActivity, which users/delta does not carry.
package usersync
