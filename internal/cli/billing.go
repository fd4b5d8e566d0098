package cli

import (
	"encoding/csv"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/cspsync/cspsync/internal/control"
)

func reportCommand() *cli.Command {
	return &cli.Command{
		Name:  "report",
		Usage: "reports for billing",
		Subcommands: []*cli.Command{{
			Name:  "billing",
			Usage: "per customer: billable users (active, not service users), service users, inactive users, and per SKU the seats paid for and assigned",
			Flags: []cli.Flag{flagPartner, flagJSON,
				&cli.StringFlag{Name: "customer", Usage: "one customer (id from `cspsync customers list`)", EnvVars: []string{"CSPSYNC_CUSTOMER"}},
				&cli.StringFlag{Name: "at", Usage: "as it stood at a past time: a date (2026-11-30: the end of that day, UTC) or an RFC 3339 time", EnvVars: []string{"CSPSYNC_BILLING_AT"}},
				&cli.BoolFlag{Name: "csv", Usage: "CSV, one line per customer and SKU (a customer without licences has one line with an empty SKU)", EnvVars: []string{"CSPSYNC_CSV"}}},
			Action: func(c *cli.Context) error {
				var at *time.Time
				if c.IsSet("at") {
					t, err := control.ParseBillingTime(c.String("at"))
					if err != nil {
						return err
					}
					at = &t
				}
				return withControl(c, func(ctl *control.Control) error {
					rep, err := ctl.Billing(c.Context, c.String(flagPartner.Name), c.String("customer"), at)
					if err != nil {
						return err
					}
					switch {
					case c.Bool(flagJSON.Name):
						return printJSON(c.App.Writer, rep)
					case c.Bool("csv"):
						return billingCSV(c, rep)
					}
					var rows [][]string
					for _, cu := range rep.Customers {
						row := []string{cu.Customer, strconv.Itoa(cu.Billable), strconv.Itoa(cu.Service), strconv.Itoa(cu.Inactive)}
						if len(cu.Skus) == 0 {
							rows = append(rows, append(row, "-", "", ""))
						}
						for i, s := range cu.Skus {
							if i > 0 {
								row = []string{"", "", "", ""}
							}
							rows = append(rows, append(row, s.ProductName, strconv.Itoa(s.Paid), strconv.Itoa(s.Assigned)))
						}
					}
					rows = append(rows, []string{"TOTAL", strconv.Itoa(rep.Total.Billable), strconv.Itoa(rep.Total.Service), strconv.Itoa(rep.Total.Inactive), "", "", ""})
					printf(c.App.Writer, "Billing at %s\n", rep.At.Format(time.RFC3339))
					return table(c.App.Writer, "CUSTOMER\tBILLABLE\tSERVICE\tINACTIVE\tPRODUCT\tPAID\tASSIGNED", rows)
				})
			},
		}},
	}
}

// billingCSV writes the billing report as CSV for spreadsheets.
func billingCSV(c *cli.Context, rep control.BillingReport) error {
	w := csv.NewWriter(c.App.Writer)
	_ = w.Write([]string{"at", "customer_id", "customer", "tenant_id", "billable", "service", "inactive", "sku_id", "part_number", "product_name", "paid", "assigned"})
	for _, cu := range rep.Customers {
		head := []string{rep.At.Format(time.RFC3339), strconv.FormatInt(cu.CustomerID, 10), cu.Customer, cu.TenantID,
			strconv.Itoa(cu.Billable), strconv.Itoa(cu.Service), strconv.Itoa(cu.Inactive)}
		if len(cu.Skus) == 0 {
			_ = w.Write(append(head, "", "", "", "", ""))
		}
		for _, s := range cu.Skus {
			_ = w.Write(append(append([]string{}, head...), s.SkuID, s.PartNumber, s.ProductName, strconv.Itoa(s.Paid), strconv.Itoa(s.Assigned)))
		}
	}
	w.Flush()
	return w.Error()
}
