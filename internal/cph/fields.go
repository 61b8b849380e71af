package cph

import (
	"reflect"
	"strings"
	"unicode"
)

// jsonField is one struct field as encoding/json sees it: the Go type its value decodes into and
// whether the `,string` option wraps a scalar in a JSON string.
type jsonField struct {
	typ      reflect.Type
	asString bool
}

// structFields returns the fields of struct type t by their JSON names, following the rules of
// encoding/json (json tags, `json:"-"`, untagged names, promotion of embedded structs, the
// shallowest and then the tagged field winning a name, ambiguous names dropped), so that the
// strict decoder accepts exactly the keys that json.Unmarshal will fill, by their exact spelling.
func structFields(t reflect.Type) map[string]jsonField {
	type candidate struct {
		field  jsonField
		depth  int
		tagged bool
	}
	byName := map[string][]candidate{}
	var order []string // names in first-seen order, so that the result does not depend on map order

	level := []reflect.Type{t}
	visited := map[reflect.Type]bool{}
	for depth := 0; len(level) > 0; depth++ {
		var next []reflect.Type
		for _, st := range level {
			if visited[st] {
				continue
			}
			visited[st] = true
			for i := 0; i < st.NumField(); i++ {
				sf := st.Field(i)
				ft := sf.Type
				if sf.Anonymous {
					if ft.Kind() == reflect.Pointer {
						ft = ft.Elem()
					}
					if !sf.IsExported() && ft.Kind() != reflect.Struct {
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				if !validTagName(name) {
					name = ""
				}
				if name == "" && sf.Anonymous && ft.Kind() == reflect.Struct {
					next = append(next, ft)
					continue
				}
				tagged := name != ""
				if !tagged {
					name = sf.Name
				}
				scalar := ft
				if scalar.Name() == "" && scalar.Kind() == reflect.Pointer {
					scalar = scalar.Elem()
				}
				asString := hasOption(opts, "string") && isStringable(scalar.Kind())
				if _, seen := byName[name]; !seen {
					order = append(order, name)
				}
				byName[name] = append(byName[name], candidate{
					field: jsonField{typ: sf.Type, asString: asString}, depth: depth, tagged: tagged,
				})
			}
		}
		level = next
	}

	fields := make(map[string]jsonField, len(order))
	for _, name := range order {
		cands := byName[name]
		minDepth := cands[0].depth
		var shallow []candidate
		for _, c := range cands {
			if c.depth == minDepth {
				shallow = append(shallow, c)
			}
		}
		if len(shallow) == 1 {
			fields[name] = shallow[0].field
			continue
		}
		var tagged []candidate
		for _, c := range shallow {
			if c.tagged {
				tagged = append(tagged, c)
			}
		}
		if len(tagged) == 1 {
			fields[name] = tagged[0].field
		}
		// Otherwise the name is ambiguous and encoding/json ignores it; so do we.
	}
	return fields
}

// validTagName mirrors encoding/json: a tag name made of anything but letters, digits and a few
// punctuation marks is ignored and the Go field name is used instead.
func validTagName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}

func hasOption(opts, want string) bool {
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		if o == want {
			return true
		}
	}
	return false
}

// isStringable reports whether the `,string` option applies to a field of kind k.
func isStringable(k reflect.Kind) bool {
	switch k {
	case reflect.Bool, reflect.String,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}
