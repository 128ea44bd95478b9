package console

// MessageKeys and Message expose the messages to tests.
func MessageKeys() []string {
	keys := make([]string, 0, len(messages))
	for k := range messages {
		keys = append(keys, k)
	}
	return keys
}

func Message(key string) (zh, en string) { m := messages[key]; return m[0], m[1] }
