# metafor_robust.R -- cluster-robust inference for rma.uni: metafor 3.8-1 robust() with its default
# CR1 estimator (adjust = TRUE; also adjust = FALSE, CR0) and with clubSandwich = TRUE (clubSandwich
# 0.5.8: CR2 vcov, Satterthwaite df for each coefficient, HTZ Wald test for the moderators).
#   Rscript metafor_robust.R metafor_robust.json
suppressPackageStartupMessages({library(metafor); library(clubSandwich); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
out_file <- if (length(args) >= 1) args[1] else "metafor_robust.json"
TIGHT <- list(threshold = 1e-12, tol = 1e-12, maxiter = 10000)
take <- function(r) list(
  beta = as.numeric(r$beta), se = as.numeric(r$se), tval = as.numeric(r$zval), df = as.numeric(r$ddf),
  pval = as.numeric(r$pval), ci_lb = as.numeric(r$ci.lb), ci_ub = as.numeric(r$ci.ub),
  vb = unname(as.matrix(r$vb)), QM = r$QM, QMdf = as.numeric(r$QMdf), QMp = r$QMp, n = r$n, vbest = r$vbest)
block <- function(call, fit, cluster) list(
  call = call, tau2 = fit$tau2,
  CR1 = take(robust(fit, cluster = cluster)),
  CR0 = take(robust(fit, cluster = cluster, adjust = FALSE)),
  CR2 = take(robust(fit, cluster = cluster, clubSandwich = TRUE)))

k <- dat.konstantopoulos2011
a <- dat.assink2016
out <- list(versions = list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                            clubSandwich = as.character(packageVersion("clubSandwich"))),
  konstantopoulos2011 = list(yi = k$yi, vi = k$vi, year = k$year, district = k$district),
  assink2016 = list(yi = a$yi, vi = a$vi, deltype = a$deltype, year = a$year, study = a$study))
out$models <- list(
  year = block("robust(rma(yi, vi, mods = ~ year, data = dat.konstantopoulos2011), cluster = district[, clubSandwich = TRUE])",
               rma(yi, vi, mods = ~ year, data = k, control = TIGHT), k$district),
  intercept = block("robust(rma(yi, vi, data = dat.konstantopoulos2011), cluster = district[, clubSandwich = TRUE])",
                    rma(yi, vi, data = k, control = TIGHT), k$district),
  deltype = block("robust(rma(yi, vi, mods = ~ deltype + year, data = dat.assink2016), cluster = study[, clubSandwich = TRUE])",
                  rma(yi, vi, mods = ~ deltype + year, data = a, control = TIGHT), a$study),
  year_knha = list(call = "robust(rma(yi, vi, mods = ~ year, data = dat.konstantopoulos2011, test = 'knha'), cluster = district)",
                   CR1 = take(robust(rma(yi, vi, mods = ~ year, data = k, test = "knha", control = TIGHT), cluster = k$district))),
  dl = block("robust(rma(yi, vi, mods = ~ year, data = dat.konstantopoulos2011, method = 'DL'), cluster = district[, clubSandwich = TRUE])",
             rma(yi, vi, mods = ~ year, data = k, method = "DL"), k$district))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, matrix = "rowmajor"), out_file)
