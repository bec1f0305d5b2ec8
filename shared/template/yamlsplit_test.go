package template

import (
	"bytes"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"

	"github.com/aos-project/aos/internal/gen"
)

// splitTexts are the texts the split must read as yaml.v3 does: the library's templates, the
// feature template, a generated one, and hand-written layouts (comments between and inside
// entries, block scalars, quoted keys, CRLF, keys after the section, anchors used within an
// entry).
func splitTexts(t *testing.T) [][]byte {
	t.Helper()
	return append(libraryTexts(t), []byte(featureTemplate), gen.Layered(300, 30),
		[]byte("format: aos/v1\n# a comment\nname: x\nnodes:   # the nodes\n\n  # first\n  a:\n    manifest: {kind: ConfigMap}\n# at column 0\n  \"b\":\n    description: |\n      two\n\n      lines\n    x: &v [1, 2]\n    y: *v\n  'c': {k: \"v\"}\n\n  d: >-\n    folded\n    text\noutputs:\n  o: ${nodes.a.x}\n"),
		[]byte("name: y\r\nnodes:\r\n    a: 1\r\n    b:\r\n      - 2\r\n    c: 'q\r\n      r'\r\n"),
		[]byte("nodes:\n  a: 1\n  b: 2\nnodes2: 3\n"),
		[]byte("nodes:\n  a: |+\n    kept\n\n\n# c\n  b: |+\n    kept\n\n\nz: 1\n"),
		[]byte("nodes:\n  a: 1\n  b: >+\n    kept\n\n"),
	)
}

// The split reads every text as yaml.v3 reads it, in any number of parts.
func TestSplitTreeIsYAMLsTree(t *testing.T) {
	for i, text := range splitTexts(t) {
		for _, parts := range []int{2, 3, 8} {
			split, ok := splitTree(text, parts)
			if !ok {
				t.Fatalf("text %d in %d parts: the split gave up on valid YAML:\n%.300s", i, parts, text)
			}
			if err := sameTree(yamlTree(t, text), split, "doc"); err != nil {
				t.Fatalf("text %d in %d parts: %v\n%.300s", i, parts, err, text)
			}
		}
	}
}

// What a split could read otherwise than the whole, or not at all, it leaves to yaml.v3: a
// quoted scalar or flow collection open across an entry's first line, a document that is a
// flow mapping (whose lines at column 0 are not its keys' lines), an alias to another
// part's anchor, a second document, a directive, a tab, a line less indented than the
// entries, an entry that is not a key, a second `nodes:`, `nodes:` with a value on its line,
// a single entry, and broken YAML.
func TestSplitTreeGivesUp(t *testing.T) {
	for _, text := range []string{
		"nodes:\n  a: \"open\n  b: 2\"\n",
		"nodes:\n  a: [1,\n  b, 2]\n",
		"nodes:\n  a: {k: 1,\n  b: 2}\n",
		"nodes:\n  a: &x 1\n  b: *x\n",
		"x: &x 1\nnodes:\n  a: *x\n  b: 2\n",
		"nodes:\n  a: 1\n  b: 2\n---\nc: 3\n",
		"%YAML 1.2\n---\nnodes:\n  a: 1\n  b: 2\n",
		"nodes:\n  a: 1\n  b:\n\t- 2\n",
		"nodes:\n    a: 1\n  b: 2\n",
		"nodes:\n  a: 1\n  - 2\n",
		"nodes:\n  a: 1\n  ? b\n  : 2\n",
		"nodes:\n  a: 1\n  b: 2\nnodes:\n  c: 3\n  d: 4\n",
		"nodes: {a: 1,\n  b: 2}\n",
		"nodes:\n  a: 1\n",
		"nodes:\n  a: 1\n  b: 2\n   c: 3\n",
		"name: [\nnodes:\n  a: 1\n  b: 2\n",
		"nodes:\n  a: 1\n  b: 2\n  a\n",
		"{format: aos/v1,\nnodes:\n  a: 1\n  b: 2\n}\n",
		"x: [1,\nnodes:\n  a: 1\n  b: 2\n]\n",
	} {
		if _, ok := splitTree([]byte(text), 2); ok {
			t.Errorf("the split took %q", text)
		}
	}
}

// A large template is split; what Parse makes of it is what it made of it whole.
func TestParseSplitsALargeTemplate(t *testing.T) {
	text := gen.Layered(2000, 100)
	if len(text) < splitMin {
		t.Fatalf("the generated template is %d bytes, under the %d the split needs: make it larger", len(text), splitMin)
	}
	if _, ok := splitTree(text, 2); !ok {
		t.Fatal("the split gave up on the generated template")
	}
	tpl, probs := Parse("big.yaml", text)
	if len(probs) > 0 || tpl == nil || len(tpl.Nodes) != 2000 {
		t.Fatalf("parse: %d nodes, problems %v", len(tpl.Nodes), probs)
	}
	// A problem in the last entry is reported where it is, through the split and without it.
	bad := append(bytes.Clone(text), "  zz:\n    dependsOn: [nowhere]\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: zz}}\n"...)
	_, probs = Validate("big.yaml", bad, Params{})
	want := bytes.Count(text, []byte{'\n'}) + 2
	if len(probs) != 1 || probs[0].Line != want || !strings.Contains(probs[0].Message, "nowhere") {
		t.Fatalf("problems %v, want one at line %d naming the missing dependency", probs, want)
	}
}

// FuzzSplitTree: whatever the split takes, yaml.v3 reads as the same tree. The seeds run as
// a normal test.
func FuzzSplitTree(f *testing.F) {
	f.Add([]byte("nodes:\n  a: 1\n  b: [x, y]\n"), uint8(2))
	f.Add([]byte("n: 0\nnodes:\n  a: |\n    t\n  b: 'q'\nz: 1\n"), uint8(3))
	f.Add([]byte("nodes:\n  a: \"x\n  y\"\n  b: 2\n"), uint8(2))
	f.Add([]byte("{format: aos/v1,\nnodes:\n  a: 1\n  b: 2\n}\n"), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, parts uint8) {
		split, ok := splitTree(data, int(parts%8))
		if !ok {
			return
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatalf("the split took what yaml.v3 refuses (%v): %q", err, data)
		}
		if err := sameTree(&doc, split, "doc"); err != nil {
			t.Fatalf("%v: %q", err, data)
		}
	})
}
