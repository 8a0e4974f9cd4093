"""What the tests share: apps and their settings, HTTP calls, factories, jobs, backends, servers."""
