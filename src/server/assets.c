/*
 * assets.c - the dashboard page, embedded in the binary at build time from
 * src/server/assets/dashboard.html (the assembler's .incbin; no generator step, no
 * file read at run time: the server never opens files named by a URL).
 */
#include "server/http.h"

#ifndef TB_SERVER_ASSETS
#error "TB_SERVER_ASSETS (the assets directory) is defined by CMakeLists.txt"
#endif

__asm__(".section .rodata\n"
        ".global tb_dashboard_html\n"
        ".type tb_dashboard_html, @object\n"
        ".balign 16\n"
        "tb_dashboard_html:\n"
        ".incbin \"" TB_SERVER_ASSETS "/dashboard.html\"\n"
        ".byte 0\n"
        "tb_dashboard_html_end:\n"
        ".global tb_dashboard_html_len\n"
        ".type tb_dashboard_html_len, @object\n"
        ".balign 4\n"
        "tb_dashboard_html_len:\n"
        ".int tb_dashboard_html_end - tb_dashboard_html - 1\n"
        ".previous\n");
