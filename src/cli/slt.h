/*
 * slt.h - the sqllogictest runner behind `tributary slt [-v] FILE...`.
 */
#ifndef TB_CLI_SLT_H
#define TB_CLI_SLT_H

/*
 * Run sqllogictest files (argv excludes the program and the "slt" word). Options:
 *   -v          print the first failures of each file with the SQL, expected and actual
 *   --max-fail N  with -v, how many failures to print per file (default 10)
 *   --complete  print the files back with the actual results in place of the expected
 *               ones (for writing tests; every result must then be reviewed)
 * Prints "FILE: N passed, N failed, N skipped" per file.
 * Returns 0 when every record passed (skips allowed), 1 on failures, 2 on usage errors.
 */
int tb_cli_slt(int argc, char **argv);

#endif /* TB_CLI_SLT_H */
