/* main.c — pdlua-emu, the Compute Engine stand-in (being built). */
#include <stdio.h>

int main(void)
{
    fprintf(stderr, "pdlua-emu: not built yet\n");
    return 1;
}
