// Package licensing names Microsoft licence products. Graph and Partner Center identify a
// product by its SKU GUID (skuId) and string id (skuPartNumber, e.g. ENTERPRISEPACK), while
// people know it by the name the admin portals show (Office 365 E3). The names come from
// Microsoft's published reference, embedded as products.csv (its header says which version).
package licensing

import (
	_ "embed"
	"encoding/csv"
	"fmt"
	"strings"
)

//go:embed products.csv
var productsCSV string

// byGUID and byPartNumber map lower-case SKU GUIDs and upper-case string ids to product
// names. A string id listed twice keeps its first name.
var byGUID, byPartNumber = mustLoad(productsCSV)

func mustLoad(data string) (map[string]string, map[string]string) {
	byGUID, byPart, err := load(data)
	if err != nil {
		panic("licensing: embedded products.csv: " + err.Error())
	}
	return byGUID, byPart
}

func load(data string) (map[string]string, map[string]string, error) {
	r := csv.NewReader(strings.NewReader(data))
	r.Comment = '#'
	r.FieldsPerRecord = 3
	records, err := r.ReadAll()
	if err != nil {
		return nil, nil, err
	}
	if len(records) == 0 || strings.Join(records[0], ",") != "guid,string_id,product_name" {
		return nil, nil, fmt.Errorf("the header is not guid,string_id,product_name")
	}
	byGUID, byPart := map[string]string{}, map[string]string{}
	for _, rec := range records[1:] {
		guid, part, name := strings.ToLower(rec[0]), strings.ToUpper(rec[1]), rec[2]
		if _, dup := byGUID[guid]; dup {
			return nil, nil, fmt.Errorf("SKU %s is listed twice", guid)
		}
		byGUID[guid] = name
		if _, seen := byPart[part]; !seen {
			byPart[part] = name
		}
	}
	return byGUID, byPart, nil
}

// ProductName returns the product name of a SKU: looked up by its GUID, else by its string
// id (case-insensitively), else the string id itself, so an unknown or newer product still
// shows something a person can search for.
func ProductName(skuID, partNumber string) string {
	if name, ok := byGUID[strings.ToLower(strings.TrimSpace(skuID))]; ok {
		return name
	}
	if name, ok := byPartNumber[strings.ToUpper(strings.TrimSpace(partNumber))]; ok {
		return name
	}
	return partNumber
}
