/* PLACEHOLDER: replaced by the module owner. */
#include "postern.h"
int cmd_map(struct cli *cli, int argc, char **argv) { (void)cli; (void)argc; (void)argv; return cli_error("not built yet"); }
