# kenward_roger.R -- Kenward-Roger denominator df and adjusted standard errors from lmerTest
# (summary(..., ddf = "Kenward-Roger"), which calls pbkrtest's vcovAdj and Lb_ddf) on data sets
# the other trials tests do not use, with the data written into the JSON:
#   Oats (nlme; balanced split plot), Orthodont (nlme; balanced longitudinal, random slopes),
#   ChickWeight (datasets; unbalanced longitudinal with dropout, random slopes).
#   Rscript kenward_roger.R kenward_roger.json
suppressPackageStartupMessages({library(lme4); library(lmerTest); library(pbkrtest); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
out_file <- if (length(args) >= 1) args[1] else "kenward_roger.json"
ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 2e-4, rhoend = 2e-12, maxfun = 1e5))
one <- function(name, formula, data, contrasts = list()) {
  m <- lmer(as.formula(formula), data = data, REML = TRUE, control = ctrl)
  s <- summary(m, ddf = "Kenward-Roger")$coefficients
  cons <- lapply(contrasts, function(L) {
    r <- contest1D(m, L, ddf = "Kenward-Roger")
    list(L = L, estimate = r$Estimate, se = r[["Std. Error"]], df = r$df, t = r[["t value"]], p = r[["Pr(>|t|)"]])
  })
  va <- as.matrix(vcovAdj(m))
  list(name = name, formula = formula,
       call = sprintf("summary(lmer(%s, data = %s), ddf = 'Kenward-Roger')", formula, name),
       fixef = as.list(fixef(m)), se = as.list(s[, "Std. Error"]), df = as.list(s[, "df"]),
       t = as.list(s[, "t value"]), p = as.list(s[, "Pr(>|t|)"]),
       se_unadjusted = as.list(sqrt(diag(as.matrix(vcov(m))))),
       vcov_adjusted = unname(lapply(seq_len(nrow(va)), function(i) va[i, ])),
       logLik = as.numeric(logLik(m)), theta = as.numeric(getME(m, "theta")), sigma = sigma(m),
       contrasts = cons)
}
oats <- as.data.frame(nlme::Oats)
oats <- data.frame(yield = oats$yield, nitro = oats$nitro, Variety = as.character(oats$Variety),
                   Block = as.character(oats$Block))
orth <- as.data.frame(nlme::Orthodont)
orth <- data.frame(distance = orth$distance, age = orth$age, Sex = as.character(orth$Sex),
                   Subject = as.character(orth$Subject))
chick <- as.data.frame(ChickWeight)
chick <- data.frame(weight = chick$weight, Time = chick$Time, Diet = as.character(chick$Diet),
                    Chick = as.character(chick$Chick))
out <- list(
  versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                  lmerTest = as.character(packageVersion("lmerTest")),
                  pbkrtest = as.character(packageVersion("pbkrtest"))),
  data = list(Oats = oats, Orthodont = orth, ChickWeight = chick),
  models = list(
    one("Oats", "yield ~ nitro + Variety + (1 | Block/Variety)", oats, list(c(0, 0, 1, -1))),
    one("Oats", "yield ~ nitro * Variety + (1 | Block) + (1 | Block:Variety)", oats),
    one("Orthodont", "distance ~ age * Sex + (age | Subject)", orth, list(c(0, 1, 0, 1))),
    one("Orthodont", "distance ~ age + Sex + (1 | Subject)", orth),
    one("ChickWeight", "weight ~ Time * Diet + (Time | Chick)", chick, list(c(0, 0, 1, -1, 0, 0, 0, 0))),
    one("ChickWeight", "weight ~ Time + Diet + (1 | Chick)", chick),
    one("ChickWeight", "weight ~ Time * Diet + (1 | Chick) + (0 + Time | Chick)", chick)
  ))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), out_file)
