package casecore_test

import (
	"os"
	"path/filepath"
)

func readCalendar(year string) ([]byte, error) {
	return os.ReadFile(filepath.Join("..", "configs", "calendar", year+".json"))
}
