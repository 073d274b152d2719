package main

import (
	"fmt"
)

// backupCommand copies a database with Database.Checkpoint.
var backupCommand = &command{
	name:    "backup",
	args:    "DIR DEST",
	summary: "write a consistent copy of the database to DEST (Database.Checkpoint)",
	details: "Database.Checkpoint: copies every table to the new directory DEST, which\n" +
		"must not exist (its parent must) and must not be inside DIR. SSTs are\n" +
		"hard-linked where the file system allows and copied otherwise; the copy\n" +
		"is built in DEST.checkpoint-tmp-<hex> and renamed to DEST when complete,\n" +
		"so an interrupted backup leaves no DEST (delete the temporary directory).\n" +
		"DEST opens like any database and passes check.\n\n" +
		"srdb opens DIR for writing (recovery, the LOCK): it backs up a database\n" +
		"no process has open. A live application calls Database.Checkpoint itself.\n",
	nargs: [2]int{2, 2}, run: runBackup,
}

func runBackup(e *env, c *command, o *cmdOpts, args []string) int {
	db, code := openDB(e, c, args[0])
	if db == nil {
		return code
	}
	status := exitOK
	if err := db.Checkpoint(args[1]); err != nil {
		status = failf(e, c, "%v", err)
	} else {
		fmt.Fprintf(e.stdout, "backup of %s written to %s (%d tables)\n", args[0], args[1], len(db.Tables()))
	}
	return closeDB(e, c, db, status)
}
