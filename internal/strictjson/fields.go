package strictjson

import (
	"reflect"
	"strings"
	"sync"
	"unicode"
)

// jsonField is one struct field as encoding/json sees it: the Go type its value decodes into and
// whether the `,string` option wraps a scalar in a JSON string.
type jsonField struct {
	typ      reflect.Type
	asString bool
}

// fieldCache maps each struct type Decode has met to its fields, as structFields finds them
// (reflect.Type to map[string]jsonField), so that a type's tags are read once per process rather
// than once per document. It is the package's only mutable global, and acceptable because it is
// invisible: an entry is a pure function of its type (a Go type, tags included, never changes),
// is complete before it is stored and is never written again, so a decode gives the same answer
// whether or not the entry was there, whichever goroutine stored it first. sync.Map makes it safe
// for concurrent decodes; two goroutines meeting a new type at once may both compute its fields,
// and LoadOrStore keeps one of the identical answers. It grows only with the number of distinct
// struct types decoded, which a program fixes at compile time (types built with reflect.StructOf
// at run time would add one entry each, as they do to encoding/json's own field cache).
var fieldCache sync.Map

// cachedFields returns structFields(t) from fieldCache, computing it on first use. The map is
// shared: callers only read it.
func cachedFields(t reflect.Type) map[string]jsonField {
	if f, ok := fieldCache.Load(t); ok {
		return f.(map[string]jsonField)
	}
	f, _ := fieldCache.LoadOrStore(t, structFields(t))
	return f.(map[string]jsonField)
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
