# metafor_more_selmodel.R -- step-function and beta selection models (selmodel, type = "stepfun", "beta") for rma.uni
# by ML, metafor 3.8-1, on dat.hackshaw1998 (log odds ratios), as in metafor's selmodel examples.
#   Rscript metafor_more_selmodel.R metafor_more_selmodel.json
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
out_file <- if (length(args) >= 1) args[1] else "metafor_more_selmodel.json"
h <- dat.hackshaw1998
fit <- rma(yi, vi, data = h, method = "ML")
take <- function(s) list(beta = as.numeric(s$beta), se = as.numeric(s$se), tau2 = s$tau2, se_tau2 = s$se.tau2,
  delta = as.numeric(s$delta), se_delta = as.numeric(s$se.delta), ll = as.numeric(logLik(s)),
  LRT = s$LRT, LRTdf = s$LRTdf, LRTp = s$LRTp, ci_lb = as.numeric(s$ci.lb), ci_ub = as.numeric(s$ci.ub))
s1 <- selmodel(fit, type = "stepfun", steps = c(0.025, 1))
s3 <- selmodel(fit, type = "stepfun", steps = c(0.025, 0.10, 0.50, 1))
sb <- selmodel(fit, type = "beta")
out <- list(versions = list(R = R.version.string, metafor = as.character(packageVersion("metafor"))),
  hackshaw1998 = list(yi = h$yi, vi = h$vi), ml_ll = as.numeric(logLik(fit)),
  step1 = c(list(call = "selmodel(rma(yi, vi, data = dat.hackshaw1998, method = 'ML'), type = 'stepfun', steps = c(0.025, 1))"), take(s1)),
  step3 = c(list(call = "selmodel(rma(yi, vi, data = dat.hackshaw1998, method = 'ML'), type = 'stepfun', steps = c(0.025, 0.10, 0.50, 1))"), take(s3)),
  beta = c(list(call = "selmodel(rma(yi, vi, data = dat.hackshaw1998, method = 'ML'), type = 'beta')"), take(sb)))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), out_file)
