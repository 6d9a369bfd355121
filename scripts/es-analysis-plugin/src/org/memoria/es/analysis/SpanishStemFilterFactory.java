package org.memoria.es.analysis;

import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.snowball.SnowballFilter;
import org.elasticsearch.plugin.NamedComponent;
import org.elasticsearch.plugin.analysis.TokenFilterFactory;
import org.tartarus.snowball.ext.SpanishStemmer;

/** Snowball Spanish: the same algorithm as Tantivy's Spanish stemmer. */
@NamedComponent("memoria_spanish_stem")
public class SpanishStemFilterFactory implements TokenFilterFactory {
    @Override
    public TokenStream create(TokenStream tokenStream) {
        return new SnowballFilter(tokenStream, new SpanishStemmer());
    }
}
