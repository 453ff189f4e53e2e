package config

// ListFile is a file of client addresses a listener names
// (allowed_clients_file, denied_clients_file).
type ListFile struct {
	// Key is the key that names it: allowed_clients_file or
	// denied_clients_file.
	Key string
	// Path is the file's absolute path.
	Path string
	// Prefixes is how many of the list the file feeds (the listener's
	// AllowedClients or DeniedClients), the last ones, it gave; Listed is
	// how many that list holds in all.
	Prefixes, Listed int
}

// ListFiles returns the files of client addresses l names: the allowed
// list's, then the denied list's; none when it names none.
func (l *Listener) ListFiles() []ListFile {
	var fs []ListFile
	if l.AllowedClientsFile != "" {
		fs = append(fs, ListFile{Key: "allowed_clients_file", Path: l.AllowedClientsFile, Prefixes: l.AllowedFromFile, Listed: len(l.AllowedClients)})
	}
	if l.DeniedClientsFile != "" {
		fs = append(fs, ListFile{Key: "denied_clients_file", Path: l.DeniedClientsFile, Prefixes: l.DeniedFromFile, Listed: len(l.DeniedClients)})
	}
	return fs
}
