/* PLACEHOLDER: replaced by the module owner. */
#include "postern.h"
int cmd_start(struct cli *cli, int argc, char **argv) { (void)cli; (void)argc; (void)argv; return cli_error("not built yet"); }
int cmd_stop(struct cli *cli, int argc, char **argv) { (void)cli; (void)argc; (void)argv; return cli_error("not built yet"); }
int cmd_status(struct cli *cli, int argc, char **argv) { (void)cli; (void)argc; (void)argv; return cli_error("not built yet"); }
int cmd_reload(struct cli *cli, int argc, char **argv) { (void)cli; (void)argc; (void)argv; return cli_error("not built yet"); }
