# metafor_more_hc.R -- Henmi-Copas confidence interval (hc) for an rma.uni fit, metafor 3.8-1, on
# dat.hackshaw1998 and dat.lee2004 (log odds ratios).  Default uniroot tolerance and a tight one (1e-12).
#   Rscript metafor_more_hc.R metafor_more_hc.json
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
out_file <- if (length(args) >= 1) args[1] else "metafor_more_hc.json"
h <- dat.hackshaw1998
l <- escalc(measure = "OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat.lee2004)
one <- function(d, name) {
  fit <- rma(yi, vi, data = d)
  a <- hc(fit); b <- hc(fit, control = list(tol = 1e-12))
  list(call = paste0("hc(rma(yi, vi, data = ", name, "))"), yi = d$yi, vi = d$vi,
       beta = a$beta, se = a$se, ci_lb = a$ci.lb, ci_ub = a$ci.ub, tau2 = a$tau2,
       tight_ci_lb = b$ci.lb, tight_ci_ub = b$ci.ub)
}
out <- list(versions = list(R = R.version.string, metafor = as.character(packageVersion("metafor"))),
  hackshaw1998 = one(h, "dat.hackshaw1998"), lee2004 = one(l, "escalc('OR', ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat.lee2004)"))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), out_file)
