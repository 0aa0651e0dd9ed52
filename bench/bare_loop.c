/* calibration: parse the 4 fields of sales CSV files, sum quantity per (10 s window,
 * product_id) in an open-addressing table; no error checks (issue 5's "bare C loop") */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <time.h>
#include <glob.h>
static int64_t days_from_civil(int y, unsigned m, unsigned d) {
  y -= m <= 2; const int era = (y >= 0 ? y : y - 399) / 400; const unsigned yoe = (unsigned)(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1; const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468; }
#define N (1u << 20)
static uint64_t keys[N]; static int64_t sums[N]; static uint8_t used[N];
int main(int argc, char **argv) {
  glob_t g; glob(argv[1], 0, NULL, &g); uint64_t rows = 0;
  struct timespec t0, t1; clock_gettime(CLOCK_MONOTONIC, &t0);
  for (size_t f = 0; f < g.gl_pathc; f++) {
    FILE *fp = fopen(g.gl_pathv[f], "rb"); fseek(fp, 0, SEEK_END); long n = ftell(fp); rewind(fp);
    char *b = malloc(n + 1); fread(b, 1, n, fp); fclose(fp); b[n] = 0;
    char *p = strchr(b, '\n') + 1, *e = b + n;
    while (p < e) {
      int64_t v[3]; for (int k = 0; k < 3; k++) { int64_t x = 0; while (*p != ',') x = x * 10 + (*p++ - '0'); p++; v[k] = x; }
      int y = (p[0]-'0')*1000+(p[1]-'0')*100+(p[2]-'0')*10+(p[3]-'0'); int mo=(p[5]-'0')*10+(p[6]-'0'), d=(p[8]-'0')*10+(p[9]-'0');
      int hh=(p[11]-'0')*10+(p[12]-'0'), mi=(p[14]-'0')*10+(p[15]-'0'), ss=(p[17]-'0')*10+(p[18]-'0');
      p += 19; while (p < e && *p != '\n') p++; p++;
      int64_t ts = days_from_civil(y, mo, d) * 86400 + hh * 3600 + mi * 60 + ss; int64_t w = ts - ts % 10;
      uint64_t key = (uint64_t)w * 4096 + (uint64_t)v[1]; uint64_t h = (key * 0x9E3779B97F4A7C15ull) >> 44;
      while (used[h] && keys[h] != key) h = (h + 1) & (N - 1);
      used[h] = 1; keys[h] = key; sums[h] += v[2]; rows++;
    }
    free(b);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1); double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  int64_t tot = 0; for (size_t i = 0; i < N; i++) tot += sums[i];
  printf("%llu rows in %.3f s = %.1f M rows/s (sum %lld)\n", (unsigned long long)rows, s, rows / s / 1e6, (long long)tot);
  return 0; }
