package strictjson_test

import (
	"errors"
	"fmt"

	"cphpurchase/internal/strictjson"
)

func ExampleDecode() {
	type Port struct {
		Name       string `json:"name"`
		ListenPort int    `json:"listen_port"`
	}
	type Server struct {
		Name  string `json:"server_name"`
		Ports []Port `json:"ports"`
	}

	// "sever_name" is misspelt, which json.Unmarshal would drop without a word, and the second
	// port's number is a string.
	doc := `{"sever_name": "cph-1", "ports": [{"name": "adb", "listen_port": 20000}, {"name": "web", "listen_port": "20001"}]}`
	var s Server
	err := strictjson.Decode([]byte(doc), "request", &s)

	var fields strictjson.FieldErrors
	if errors.As(err, &fields) {
		for _, f := range fields {
			fmt.Printf("%s: %s\n", f.Path, f.Message)
		}
	}
	fmt.Printf("decoded: %+v\n", s)
	// Output:
	// request.sever_name: unknown field
	// request.ports[1].listen_port: must be an integer, got string
	// decoded: {Name: Ports:[]}
}
