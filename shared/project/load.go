package project

import (
	"bufio"
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// Set is the projects a server knows, by name. A nil Set knows only Default().
type Set struct {
	// File is where the set was read from, for messages.
	File     string
	projects map[string]*Project
}

// NewSet builds a set from projects, checking each.
func NewSet(file string, projects ...*Project) (*Set, error) {
	s := &Set{File: file, projects: map[string]*Project{}}
	var errs []error
	for i, p := range projects {
		if err := p.check(); err != nil {
			errs = append(errs, fmt.Errorf("projects[%d]: %w", i, err))
			continue
		}
		if s.projects[p.Name] != nil {
			errs = append(errs, fmt.Errorf("projects[%d]: project %q is defined twice", i, p.Name))
		}
		s.projects[p.Name] = p
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s: %w", file, errors.Join(errs...))
	}
	return s, nil
}

// Load reads a projects file (YAML or JSON: `projects: [ {name, identities, …} ]`,
// docs/projects.md), refusing unknown fields.
func Load(file string) (*Set, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("projects file: %w", err)
	}
	var doc struct {
		Projects []*Project `json:"projects"`
	}
	if err := yaml.UnmarshalStrict(data, &doc); err != nil {
		return nil, fmt.Errorf("projects file %s: %w", file, err)
	}
	if len(doc.Projects) == 0 {
		return nil, fmt.Errorf("projects file %s defines no project (expected `projects:` with a list)", file)
	}
	return NewSet(file, doc.Projects...)
}

// Get returns the project of that name ("" is the default project).
func (s *Set) Get(name string) (*Project, error) {
	if name == "" {
		name = DefaultName
	}
	if s == nil {
		if name == DefaultName {
			return Default(), nil
		}
		return nil, &UnknownError{Name: name}
	}
	if p := s.projects[name]; p != nil {
		return p, nil
	}
	return nil, &UnknownError{Name: name, File: s.File}
}

// UnknownError: no project of that name.
type UnknownError struct{ Name, File string }

func (e *UnknownError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("no project %q: without a projects file only %q exists (aos --projects FILE; docs/projects.md)", e.Name, DefaultName)
	}
	return fmt.Sprintf("no project %q in %s", e.Name, e.File)
}

func (p *Project) check() error {
	if errs := validation.IsDNS1123Label(p.Name); len(errs) > 0 {
		return fmt.Errorf("name %q: %s", p.Name, errs[0])
	}
	if len(p.Identities) == 0 {
		return fmt.Errorf("project %q lists no identities: nobody could use it (use %q for every authenticated caller)", p.Name, Anyone)
	}
	for field, globs := range map[string][]string{"contexts": p.Contexts, "namespaces": p.Namespaces, "kinds.allow": p.Kinds.Allow, "kinds.deny": p.Kinds.Deny, "clusterKinds": p.ClusterKinds} {
		for _, g := range globs {
			if _, err := path.Match(g, ""); err != nil {
				return fmt.Errorf("project %q: %s: bad pattern %q: %w", p.Name, field, g, err)
			}
		}
	}
	if len(p.Contexts) == 0 {
		p.Contexts = []string{"default"}
	}
	if p.ServiceAccount != "" {
		ns, name, ok := strings.Cut(p.ServiceAccount, "/")
		if !ok || len(validation.IsDNS1123Label(ns)) > 0 || len(validation.IsDNS1123Subdomain(name)) > 0 {
			return fmt.Errorf("project %q: serviceAccount %q: expected namespace/name", p.Name, p.ServiceAccount)
		}
	}
	return nil
}

// Tokens maps bearer tokens to identities: the file `aos serve --token-file` reads.
type Tokens struct{ entries [][2]string }

// AdminIdentity is the identity of a token written alone on its line (an older token file
// holding only a token).
const AdminIdentity = "admin"

// MinTokenLength is the shortest token accepted.
const MinTokenLength = 16

// ParseTokens reads `TOKEN [IDENTITY]` lines; blank lines and # comments are skipped.
func ParseTokens(data []byte) (*Tokens, error) {
	t := &Tokens{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if len(f) > 2 {
			return nil, fmt.Errorf("line %d: expected TOKEN [IDENTITY]", line)
		}
		if len(f[0]) < MinTokenLength {
			return nil, fmt.Errorf("line %d: the token is shorter than %d characters: use a long random one, e.g. `openssl rand -hex 32`", line, MinTokenLength)
		}
		id := AdminIdentity
		if len(f) == 2 {
			id = f[1]
		}
		t.entries = append(t.entries, [2]string{f[0], id})
	}
	if len(t.entries) == 0 {
		return nil, errors.New("no token in it")
	}
	return t, nil
}

// Identity returns the identity a token names, comparing in constant time.
func (t *Tokens) Identity(token string) (string, bool) {
	found := ""
	for _, e := range t.entries {
		if subtle.ConstantTimeCompare([]byte(token), []byte(e[0])) == 1 {
			found = e[1]
		}
	}
	return found, found != ""
}
