# metafor_more_plots.R -- the data behind baujat(), radial() and gosh() for rma.uni, metafor 3.8-1,
# on dat.raudenbush1985 (gosh on its first 8 studies: all 255 subsets enumerated).
#   Rscript metafor_more_plots.R metafor_more_plots.json
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
out_file <- if (length(args) >= 1) args[1] else "metafor_more_plots.json"
TIGHT <- list(threshold = 1e-12, tol = 1e-12, maxiter = 10000)
r <- dat.raudenbush1985
pdf(NULL)
fit <- rma(yi, vi, data = r, control = TIGHT)
fe <- rma(yi, vi, data = r, method = "FE")
bj <- baujat(fit)
rd <- radial(fe)
rd_re <- radial(fit)
g <- gosh(rma(yi, vi, data = r[1:8, ], control = TIGHT), progbar = FALSE)
out <- list(
  versions = list(R = R.version.string, metafor = as.character(packageVersion("metafor"))),
  raudenbush1985 = list(yi = r$yi, vi = r$vi),
  baujat = list(call = "baujat(rma(yi, vi, data = dat.raudenbush1985))", x = bj$x, y = bj$y),
  radial = list(call = "radial(rma(yi, vi, data = dat.raudenbush1985, method = 'FE'))", x = rd$x, y = rd$y),
  radial_re = list(call = "radial(rma(yi, vi, data = dat.raudenbush1985))", x = rd_re$x, y = rd_re$y),
  gosh = list(call = "gosh(rma(yi, vi, data = dat.raudenbush1985[1:8, ]))", incl = unname(1L * as.matrix(g$incl)),
              QE = g$res$QE, I2 = g$res$I2, H2 = g$res$H2, tau2 = g$res$tau2, estimate = g$res$estimate))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, matrix = "rowmajor"), out_file)
